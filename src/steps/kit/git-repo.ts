import { posix } from 'node:path';
import { StepFailedError } from '../contract.js';
import { git, gitCommandText, gitHere, gitTry, zList, type GitPlace } from './git-cli.js';

/** Commits made by runbook use this identity unless the repository has its own. */
const IDENTITY = ['-c', 'user.name=runbook', '-c', 'user.email=runbook@localhost'];

/** A checkout, as git sees it: its directory, the top of its work tree and where its files live. */
export interface Checkout {
  dir: string;
  top: string;
  /** This machine or the host the checkout is on. */
  on: GitPlace;
  /** Absolute paths of files inside the git directory (`git rev-parse --git-path`), in order. */
  gitPaths(...names: string[]): Promise<string[]>;
}

export async function openCheckout(dir: string, on: GitPlace = gitHere()): Promise<Checkout> {
  const r = await gitTry(dir, ['rev-parse', '--show-toplevel'], {}, on).catch((error: Error) => {
    if (on.signal.aborted) throw error;
    return { exitCode: 1, stdout: '', stderr: error.message };
  });
  if (r.exitCode !== 0) {
    const cause = r.stderr.trim().split('\n')[0] || 'not a git repository';
    throw new StepFailedError(`${dir} is not a git checkout: ${cause.replace(/^fatal: /, '')}`, { command: gitCommandText(dir, ['status']) });
  }
  return {
    dir,
    top: r.stdout.trim(),
    on,
    gitPaths: async (...names) => (await git(dir, ['rev-parse', ...names.flatMap((n) => ['--git-path', n])], {}, on)).split('\n').slice(0, names.length).map((p) => on.target.resolve(dir, p)),
  };
}

/** The commit HEAD points at, or null on a branch with no commit yet. */
export async function headCommit(dir: string, on: GitPlace = gitHere()): Promise<string | null> {
  const r = await gitTry(dir, ['rev-parse', '--verify', '-q', 'HEAD^{commit}'], {}, on);
  return r.exitCode === 0 ? r.stdout.trim() : null;
}

/** The branch HEAD is on (`refs/heads/…`), or null when HEAD is detached. */
export async function headBranch(dir: string, on: GitPlace = gitHere()): Promise<string | null> {
  const r = await gitTry(dir, ['symbolic-ref', '-q', 'HEAD'], {}, on);
  return r.exitCode === 0 ? r.stdout.trim() : null;
}

/** The index as a tree (written to the object store; the index itself is not changed). */
export async function indexTree(dir: string, on: GitPlace = gitHere()): Promise<string> {
  const r = await gitTry(dir, ['write-tree'], {}, on);
  if (r.exitCode !== 0) throw new StepFailedError(`the index of ${dir} has unresolved conflicts (git write-tree: ${r.stderr.trim().split('\n')[0]}); resolve them first`, { command: gitCommandText(dir, ['write-tree']) });
  return r.stdout.trim();
}

/** A merge, rebase, cherry-pick, revert or bisect in progress: a checkpoint in the middle of one would be wrong. */
export async function operationInProgress(c: Checkout): Promise<string | undefined> {
  const markers: [string, string][] = [
    ['MERGE_HEAD', 'a merge'],
    ['rebase-merge', 'a rebase'],
    ['rebase-apply', 'a rebase or git am'],
    ['CHERRY_PICK_HEAD', 'a cherry-pick'],
    ['REVERT_HEAD', 'a revert'],
    ['BISECT_LOG', 'a bisect'],
  ];
  const paths = await c.gitPaths(...markers.map(([file]) => file));
  const present = await Promise.all(paths.map(async (p) => (await c.on.target.info(p, true)) !== undefined));
  return markers.find((_, i) => present[i])?.[1];
}

/** `git -c user.name=… -c user.email=…` when the repository has no identity of its own. */
export async function identityArgs(dir: string, on: GitPlace = gitHere()): Promise<string[]> {
  const name = (await gitTry(dir, ['config', '--get', 'user.name'], {}, on)).stdout.trim();
  const email = (await gitTry(dir, ['config', '--get', 'user.email'], {}, on)).stdout.trim();
  return name !== '' && email !== '' ? [] : IDENTITY;
}

/** Pathspecs for "the whole work tree except these" (patterns relative to the checkout dir). */
export function allExcept(exclude: string[]): string[] {
  return [':/', ...exclude.map((p) => `:(exclude)${p}`)];
}

/**
 * Copies the index to `scratch` for staging without touching the operator's index. Git trusts an
 * entry's cached stat only when the file is older than the index file ("racy git"); a copy made
 * later would hide a same-size edit made in the same second, so the copy is dated 2 s before the
 * index. No index yet: no copy. Paths are arguments of a fixed script, never part of it.
 */
const COPY_INDEX = '[ -e "$1" ] || exit 0; cp -- "$1" "$2" && touch -r "$1" -d "-2 seconds" -- "$2"';

/**
 * Runs `work` with a scratch index in the git directory (`runbook-scratch.index`): a copy of
 * the checkout's index (`copy`) or none, removed again afterwards.
 */
export async function withScratchIndex<T>(c: Checkout, copy: boolean, work: (scratch: string) => Promise<T>): Promise<T> {
  const [scratch, index] = (await c.gitPaths('runbook-scratch.index', 'index')) as [string, string];
  await c.on.target.remove(scratch);
  try {
    if (copy) {
      const r = await c.on.target.exec({ argv: ['sh', '-c', COPY_INDEX, 'sh', index, scratch], cwd: '/', env: c.on.env, signal: c.on.signal, capture: true });
      if (r.exitCode !== 0) throw new StepFailedError(`cannot copy the index of ${c.dir}: ${r.stderr.trim().split('\n')[0] ?? `exit code ${r.exitCode}`}`);
    }
    return await work(scratch);
  } finally {
    await c.on.target.remove(scratch);
  }
}

/**
 * The tree `git add -A` would commit now — every file that is not ignored or excluded — built in
 * a scratch copy of the index, so the operator's index (what they staged) is never touched.
 */
export async function worktreeTree(c: Checkout, exclude: string[]): Promise<string> {
  return withScratchIndex(c, true, async (scratch) => {
    await git(c.dir, ['add', '-A', '--', ...allExcept(exclude)], { indexFile: scratch }, c.on);
    return (await git(c.dir, ['write-tree'], { indexFile: scratch }, c.on)).trim();
  });
}

/**
 * Paths as git prints them: relative to the top of the work tree (which git gives as a real
 * path), each made real first (`realpath -m`: the path may not exist).
 */
export async function topRelative(c: Checkout, paths: string[]): Promise<string[]> {
  if (paths.length === 0) return [];
  const absolute = paths.map((p) => c.on.target.resolve(c.dir, p));
  const r = await c.on.target.exec({ argv: ['realpath', '-m', '-z', '--', ...absolute], cwd: '/', env: c.on.env, signal: c.on.signal, capture: true, captureLimit: 100_000_000 });
  if (r.exitCode !== 0) throw new StepFailedError(`cannot resolve paths in ${c.dir}: ${r.stderr.trim().split('\n')[0] ?? `exit code ${r.exitCode}`}`);
  return zList(r.stdout).map((real) => posix.relative(c.top, real));
}
