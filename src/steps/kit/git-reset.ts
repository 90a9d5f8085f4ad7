import { StepFailedError } from '../contract.js';
import { git, gitCommandText, gitHere, gitTry, zList, type GitPlace } from './git-cli.js';
import { headCommit, openCheckout, topRelative, withScratchIndex, worktreeTree, type Checkout } from './git-repo.js';

/** How the checkout differs from a checkpoint commit. Paths are relative to the top of the work tree. */
export interface CheckpointDiff {
  /** Files that differ and are not the run's own: what a reset discards (`changed: p`, `deleted: p`). */
  changed: string[];
  /** Commits since the checkpoint that a reset takes HEAD back over (`commit:  <id> <subject>`). */
  commits: string[];
  /** Files created since the checkpoint that are not the run's own: a reset keeps them. */
  created: string[];
  /** Every file whose content differs from the checkpoint (the run's own or not): what a reset rewrites. */
  restore: string[];
  /** Files the run created since the checkpoint: a reset deletes them. */
  ownCreated: string[];
}

export interface ResetOptions {
  /** Files the run itself wrote (absolute, or relative to the checkout dir). */
  ownPaths: string[];
  /** Pathspecs the checkpoint left out (they are neither compared nor touched). */
  exclude?: string[];
  /** Leave HEAD and the index alone and restore only the files (the checkpoint commit was already undone). */
  keepHead?: boolean;
}

async function diffFrom(c: Checkout, commit: string, opts: ResetOptions): Promise<CheckpointDiff> {
  const now = await worktreeTree(c, opts.exclude ?? []);
  const own = new Set(await topRelative(c, opts.ownPaths));
  const d: CheckpointDiff = { changed: [], commits: [], created: [], restore: [], ownCreated: [] };
  const fields = zList(await git(c.dir, ['diff', '--name-status', '--no-renames', '-z', commit, now], {}, c.on));
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [status, path] = [fields[i]!, fields[i + 1]!];
    if (status === 'A') (own.has(path) ? d.ownCreated : d.created).push(path);
    else {
      d.restore.push(path);
      if (!own.has(path)) d.changed.push(`${status === 'D' ? 'deleted' : 'changed'}: ${path}`);
    }
  }
  const head = await headCommit(c.dir, c.on);
  if (!opts.keepHead && head && head !== commit) {
    d.commits = (await git(c.dir, ['log', '--format=%H %s', `${commit}..${head}`], {}, c.on))
      .split('\n')
      .filter(Boolean)
      .map((l) => `commit:  ${l.slice(0, 12)}${l.slice(40)}`);
  }
  return d;
}

/** How the checkout differs from `commit`, the run's own changes told apart. Read-only (writes git objects only). */
export async function diffFromCheckpoint(dir: string, commit: string, opts: ResetOptions, on: GitPlace = gitHere()): Promise<CheckpointDiff> {
  return diffFrom(await openCheckout(dir, on), commit, opts);
}

/** What resetting to `commit` would discard that the run did not do itself: changed files and commits since. */
export async function foreignChanges(dir: string, commit: string, ownPaths: string[], exclude: string[] = [], on: GitPlace = gitHere()): Promise<string[]> {
  const d = await diffFromCheckpoint(dir, commit, { ownPaths, exclude }, on);
  return [...d.changed, ...d.commits];
}

/**
 * Returns the checkout to `commit`: every file whose content differs is rewritten from it, files
 * the run created are deleted, HEAD and the index go back to it (unless `keepHead`). Files
 * created since by anyone else are never deleted: they are returned as `kept`. Refuses when
 * files or commits that are not the run's own would be discarded, unless `force`.
 */
export async function resetToCheckpoint(dir: string, commit: string, opts: ResetOptions & { force: boolean }, on: GitPlace = gitHere()): Promise<{ foreign: string[]; kept: string[] }> {
  const c = await openCheckout(dir, on);
  const d = await diffFrom(c, commit, opts);
  const foreign = [...d.changed, ...d.commits];
  if (!opts.force && foreign.length > 0) {
    throw new StepFailedError(`refusing to reset ${dir} to ${commit.slice(0, 12)}: it has changes that are not this run's own:\n${foreign.map((f) => `  ${f}`).join('\n')}\nlook at them, then use --force to discard them`, {
      command: gitCommandText(dir, ['reset', '--hard', commit.slice(0, 12)]),
    });
  }
  if (!opts.keepHead) {
    const head = await headCommit(dir, on);
    if (head !== commit) await git(dir, ['update-ref', '-m', 'runbook: reset to the checkpoint', 'HEAD', commit, head ?? '0'.repeat(commit.length)], {}, on);
    await git(dir, ['read-tree', commit], {}, on);
  }
  if (d.restore.length > 0) {
    await withScratchIndex(c, false, async (scratch) => {
      await git(c.top, ['read-tree', commit], { indexFile: scratch }, on);
      await git(c.top, ['checkout-index', '-f', '-z', '--stdin'], { indexFile: scratch, input: d.restore.join('\0') }, on);
    });
  }
  for (const path of d.ownCreated) await on.target.remove(on.target.resolve(c.top, path));
  await gitTry(dir, ['update-index', '-q', '--refresh'], {}, on);
  return { foreign, kept: d.created };
}
