import { posix } from 'node:path';
import { StepFailedError } from '../contract.js';
import { git, gitCommandText, gitHere, gitTry, zList, type GitPlace } from './git-cli.js';

/** Commits made by runbook use this identity unless the repository has its own. */
const IDENTITY = ['-c', 'user.name=runbook', '-c', 'user.email=runbook@localhost'];

/** A merge, rebase, cherry-pick, revert or bisect in progress leaves one of these in the git directory. */
const IN_PROGRESS: [file: string, what: string][] = [
  ['MERGE_HEAD', 'a merge'],
  ['rebase-merge', 'a rebase'],
  ['rebase-apply', 'a rebase or git am'],
  ['CHERRY_PICK_HEAD', 'a cherry-pick'],
  ['REVERT_HEAD', 'a revert'],
  ['BISECT_LOG', 'a bisect'],
];

/** A checkout, as git sees it: its directory, the top of its work tree and where its files live. */
export interface Checkout {
  dir: string;
  top: string;
  /** This machine or the host the checkout is on. */
  on: GitPlace;
  /** Absolute paths inside the git directory (`git rev-parse --git-path`): the index, runbook's scratch index, the in-progress markers (IN_PROGRESS order). */
  paths: { index: string; scratch: string; markers: string[] };
}

/** Opens `dir` as a checkout: one git call finds the top of its work tree and every path runbook uses in the git directory. */
export async function openCheckout(dir: string, on: GitPlace = gitHere()): Promise<Checkout> {
  const names = ['index', 'runbook-scratch.index', ...IN_PROGRESS.map(([file]) => file)];
  const r = await gitTry(dir, ['rev-parse', '--show-toplevel', ...names.flatMap((n) => ['--git-path', n])], {}, on).catch((error: Error) => {
    if (on.signal.aborted) throw error;
    return { exitCode: 1, stdout: '', stderr: error.message };
  });
  if (r.exitCode !== 0) {
    const cause = r.stderr.trim().split('\n')[0] || 'not a git repository';
    throw new StepFailedError(`${dir} is not a git checkout: ${cause.replace(/^fatal: /, '')}`, { command: gitCommandText(dir, ['status']) });
  }
  const [top, index, scratch, ...markers] = r.stdout.split('\n').slice(0, names.length + 1);
  const inGitDir = (p: string | undefined) => on.target.resolve(dir, p ?? '');
  return { dir, top: top!, on, paths: { index: inGitDir(index), scratch: inGitDir(scratch), markers: markers.map(inGitDir) } };
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

/** The first path that exists, as `[ -e ]` sees it (through links); the paths are arguments, never script. */
const FIRST_EXISTING = 'for p; do if [ -e "$p" ]; then printf %s "$p"; exit 0; fi; done';

/** A merge, rebase, cherry-pick, revert or bisect in progress: a checkpoint in the middle of one would be wrong. */
export async function operationInProgress(c: Checkout): Promise<string | undefined> {
  const r = await c.on.target.exec({ argv: ['sh', '-c', FIRST_EXISTING, 'sh', ...c.paths.markers], cwd: '/', env: c.on.env, signal: c.on.signal, capture: true });
  if (r.exitCode !== 0) throw new StepFailedError(`cannot look into the git directory of ${c.dir}: ${r.stderr.trim().split('\n')[0] ?? `exit code ${r.exitCode}`}`);
  const found = c.paths.markers.indexOf(r.stdout);
  return found >= 0 ? IN_PROGRESS[found]![1] : undefined;
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
 * Empties the scratch index, then (`$3` = copy) copies the checkout's index there. Git trusts an
 * entry's cached stat only when the file is older than the index file ("racy git"); a copy made
 * later would hide a same-size edit made in the same second, so the copy is dated 2 s before the
 * index. No index yet: no copy. Paths are arguments of a fixed script, never part of it.
 */
const FRESH_SCRATCH = `rm -f -- "$2" || exit 1
[ "$3" = copy ] && [ -e "$1" ] || exit 0
cp -- "$1" "$2" && touch -r "$1" -d '-2 seconds' -- "$2"`;

/**
 * Runs `work` with a scratch index in the git directory (`runbook-scratch.index`): a copy of
 * the checkout's index (`copy`) or none, removed again afterwards.
 */
export async function withScratchIndex<T>(c: Checkout, copy: boolean, work: (scratch: string) => Promise<T>): Promise<T> {
  const { index, scratch } = c.paths;
  try {
    const r = await c.on.target.exec({ argv: ['sh', '-c', FRESH_SCRATCH, 'sh', index, scratch, copy ? 'copy' : 'empty'], cwd: '/', env: c.on.env, signal: c.on.signal, capture: true });
    if (r.exitCode !== 0) throw new StepFailedError(`cannot prepare a scratch index for ${c.dir}: ${r.stderr.trim().split('\n')[0] ?? `exit code ${r.exitCode}`}`);
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
