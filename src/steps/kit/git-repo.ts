import { copyFileSync, existsSync, realpathSync, rmSync, statSync, utimesSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { StepFailedError } from '../contract.js';
import { git, gitCommandText, gitTry } from './git-cli.js';

/** Commits made by runbook use this identity unless the repository has its own. */
const IDENTITY = ['-c', 'user.name=runbook', '-c', 'user.email=runbook@localhost'];

/** A checkout, as git sees it: its directory, the top of its work tree and where its files live. */
export interface Checkout {
  dir: string;
  top: string;
  /** Absolute paths of files inside the git directory (`git rev-parse --git-path`), in order. */
  gitPaths(...names: string[]): Promise<string[]>;
}

export async function openCheckout(dir: string): Promise<Checkout> {
  const r = await gitTry(dir, ['rev-parse', '--show-toplevel']).catch((error: Error) => ({ exitCode: 1, stdout: '', stderr: error.message }));
  if (r.exitCode !== 0) {
    const cause = r.stderr.trim().split('\n')[0] || 'not a git repository';
    throw new StepFailedError(`${dir} is not a git checkout: ${cause.replace(/^fatal: /, '')}`, { command: gitCommandText(dir, ['status']) });
  }
  return {
    dir,
    top: r.stdout.trim(),
    gitPaths: async (...names) => (await git(dir, ['rev-parse', ...names.flatMap((n) => ['--git-path', n])])).split('\n').slice(0, names.length).map((p) => resolve(dir, p)),
  };
}

/** The commit HEAD points at, or null on a branch with no commit yet. */
export async function headCommit(dir: string): Promise<string | null> {
  const r = await gitTry(dir, ['rev-parse', '--verify', '-q', 'HEAD^{commit}']);
  return r.exitCode === 0 ? r.stdout.trim() : null;
}

/** The branch HEAD is on (`refs/heads/…`), or null when HEAD is detached. */
export async function headBranch(dir: string): Promise<string | null> {
  const r = await gitTry(dir, ['symbolic-ref', '-q', 'HEAD']);
  return r.exitCode === 0 ? r.stdout.trim() : null;
}

/** The index as a tree (written to the object store; the index itself is not changed). */
export async function indexTree(dir: string): Promise<string> {
  const r = await gitTry(dir, ['write-tree']);
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
  return markers.find((_, i) => existsSync(paths[i]!))?.[1];
}

/** `git -c user.name=… -c user.email=…` when the repository has no identity of its own. */
export async function identityArgs(dir: string): Promise<string[]> {
  const name = (await gitTry(dir, ['config', '--get', 'user.name'])).stdout.trim();
  const email = (await gitTry(dir, ['config', '--get', 'user.email'])).stdout.trim();
  return name !== '' && email !== '' ? [] : IDENTITY;
}

/** Pathspecs for "the whole work tree except these" (patterns relative to the checkout dir). */
export function allExcept(exclude: string[]): string[] {
  return [':/', ...exclude.map((p) => `:(exclude)${p}`)];
}

/**
 * The tree `git add -A` would commit now — every file that is not ignored or excluded — built in
 * a scratch copy of the index, so the operator's index (what they staged) is never touched.
 */
export async function worktreeTree(c: Checkout, exclude: string[]): Promise<string> {
  const [scratch, index] = (await c.gitPaths('runbook-scratch.index', 'index')) as [string, string];
  rmSync(scratch, { force: true });
  try {
    const stat = statSync(index, { throwIfNoEntry: false });
    if (stat) {
      copyFileSync(index, scratch);
      // Git trusts an entry's cached stat only when the file is older than the index file
      // ("racy git"); a copy made later would hide a same-size edit made in the same second.
      const earlier = new Date(stat.mtimeMs - 2000);
      utimesSync(scratch, earlier, earlier);
    }
    await git(c.dir, ['add', '-A', '--', ...allExcept(exclude)], { indexFile: scratch });
    return (await git(c.dir, ['write-tree'], { indexFile: scratch })).trim();
  } finally {
    rmSync(scratch, { force: true });
  }
}

/** The real path of `path`, which may not exist (git prints paths under the real top of the work tree). */
function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(realPath(parent), basename(path));
  }
}

/** A path as git prints it: relative to the top of the work tree. */
export function topRelative(c: Checkout, path: string): string {
  return relative(c.top, realPath(isAbsolute(path) ? path : resolve(c.dir, path)));
}
