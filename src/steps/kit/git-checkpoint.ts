import type { CheckpointRecord } from '../../model/checkpoint.js';
import { StepFailedError } from '../contract.js';
import { checkpointRefusal, type CheckpointFiles } from './git-checkpoint-guard.js';
import { git, gitCommandText, gitHere, gitTry, type GitPlace } from './git-cli.js';
import { headBranch, headCommit, identityArgs, indexTree, openCheckout, operationInProgress, worktreeTree } from './git-repo.js';

export interface PreparedCheckpoint extends CheckpointRecord {
  /** False when the work tree is exactly HEAD: the checkpoint is HEAD itself. */
  needsCommit: boolean;
}

/**
 * Reads what a checkpoint of `dir` would be, without changing HEAD, the index or any file (it
 * only writes git objects). Fails clearly on a directory that is not a checkout, an index with
 * conflicts, or a merge/rebase in progress.
 */
export async function prepareCheckpoint(dir: string, message: string, exclude: string[] = [], on: GitPlace = gitHere()): Promise<PreparedCheckpoint> {
  const checkout = await openCheckout(dir, on);
  const busy = await operationInProgress(checkout);
  if (busy) throw new StepFailedError(`${dir} is in the middle of ${busy}: finish or abort it before taking a checkpoint`);
  const head = await headCommit(dir, on);
  const branch = await headBranch(dir, on);
  const index = await indexTree(dir, on);
  const tree = await worktreeTree(checkout, exclude);
  const headTree = head ? (await git(dir, ['rev-parse', `${head}^{tree}`], {}, on)).trim() : null;
  return { dir, message, head, branch, index, tree, exclude, needsCommit: head === null || headTree !== tree };
}

async function refreshIndex(dir: string, on: GitPlace): Promise<void> {
  // Only re-reads file stats so the next `git status` is fast; differences are not an error.
  await gitTry(dir, ['update-index', '-q', '--refresh'], {}, on);
}

/**
 * Commits the prepared tree on top of HEAD (compare-and-swap: fails if HEAD moved meanwhile)
 * and makes the index match it, as `git add -A && git commit` would. No hooks run.
 */
export async function commitCheckpoint(p: CheckpointRecord, on: GitPlace = gitHere()): Promise<string> {
  const identity = await identityArgs(p.dir, on);
  const commit = (await git(p.dir, [...identity, 'commit-tree', p.tree, ...(p.head ? ['-p', p.head] : []), '-m', p.message], {}, on)).trim();
  await git(p.dir, ['update-ref', '-m', `runbook: ${p.message}`, 'HEAD', commit, p.head ?? '0'.repeat(commit.length)], {}, on);
  await git(p.dir, ['read-tree', p.tree], {}, on);
  await refreshIndex(p.dir, on);
  return commit;
}

/** Refusal check, prepare and commit in one: for the `git` step's `checkpoint` (its inverse journals what undoing it needs first). */
export async function takeCheckpoint(dir: string, message: string, files: CheckpointFiles = { exclude: [], include: [], secrets: new Map() }, on: GitPlace = gitHere()): Promise<{ commit: string; createdCommit: boolean }> {
  const refusal = await checkpointRefusal(dir, files, 'add them to .gitignore first', on);
  if (refusal) throw new StepFailedError(refusal, { command: gitCommandText(dir, ['add', '-A']) });
  const p = await prepareCheckpoint(dir, message, files.exclude, on);
  if (!p.needsCommit) return { commit: p.head!, createdCommit: false };
  return { commit: await commitCheckpoint(p, on), createdCommit: true };
}

export type CheckpointUndo =
  | { restored: true; commit: string | null }
  | {
      restored: false;
      commit: string | null;
      /** Why HEAD and the index were left as they are. */
      reason: string;
      /** The git commands that finish the job by hand. */
      finish: string;
    };

/**
 * The commands that put HEAD and the index back as before the checkpoint. A branch that had no
 * commit is emptied only while it still points at the checkpoint (update-ref checks).
 */
function finishCommand(r: CheckpointRecord, commit: string | null): string {
  const first = r.head ? ['reset', '--soft', r.head] : ['update-ref', '-d', r.branch ?? 'HEAD', ...(commit ? [commit] : [])];
  return `${gitCommandText(r.dir, first)} && ${gitCommandText(r.dir, ['read-tree', r.index])}`;
}

const short = (ref: string) => ref.replace(/^refs\/heads\//, '');

/** After a crash between journaling the checkpoint and journaling its commit: is `sha` that commit? */
async function isCheckpointCommit(r: CheckpointRecord, sha: string, on: GitPlace): Promise<boolean> {
  const [tree, parents] = (await git(r.dir, ['show', '-s', '--format=%T%x00%P', sha], {}, on)).trim().split('\0');
  return tree === r.tree && (parents ?? '') === (r.head ?? '');
}

/**
 * The commit a checkpoint made, found without its id (the git step journals only what it will
 * commit): among the commits since `r.head` up to HEAD, the one of `r.tree` on parent `r.head`.
 */
export async function findCheckpointCommit(r: CheckpointRecord, on: GitPlace = gitHere()): Promise<string | undefined> {
  const head = await headCommit(r.dir, on);
  if (!head || head === r.head) return undefined;
  const log = await gitTry(r.dir, ['log', '--format=%H %T %P', r.head ? `${r.head}..${head}` : head], {}, on);
  if (log.exitCode !== 0) return undefined;
  const made = log.stdout.split('\n').find((line) => {
    const [, tree, ...parents] = line.split(' ');
    return tree === r.tree && parents.join(' ') === (r.head ?? '');
  });
  return made?.split(' ')[0];
}

async function movedOn(r: CheckpointRecord, commit: string | null, head: string | null, on: GitPlace): Promise<string> {
  if (commit && head && (await gitTry(r.dir, ['merge-base', '--is-ancestor', commit, head], {}, on)).exitCode === 0) {
    const since = (await git(r.dir, ['log', '--format=%H %s', `${commit}..${head}`], {}, on)).split('\n').filter(Boolean);
    const newest = `${since[0]!.slice(0, 12)}${since[0]!.slice(40)}`;
    return `HEAD moved on since (${since.length === 1 ? newest : `${since.length} commits, the newest ${newest}`})`;
  }
  return `HEAD is now ${head ? head.slice(0, 12) : 'a branch with no commit'}, which does not contain the checkpoint commit`;
}

/**
 * Takes the checkpoint commit back: HEAD returns to where it was (the branch to no commit when
 * it had none) and the index to what the operator had staged. Working-tree files are not touched
 * (the changes' own rollbacks restore them). Idempotent, and safe after a crash at any point of
 * taking or undoing the checkpoint. When HEAD moved on since, is on another branch, or the index
 * holds changes staged since, nothing is changed and the result says why and how to finish.
 */
export async function undoCheckpoint(r: CheckpointRecord & { commit?: string }, on: GitPlace = gitHere()): Promise<CheckpointUndo> {
  let commit: string | null = r.commit ?? null;
  const kept = (reason: string): CheckpointUndo => ({ restored: false, commit, reason, finish: finishCommand(r, commit) });
  try {
    await openCheckout(r.dir, on);
    const head = await headCommit(r.dir, on);
    const branch = await headBranch(r.dir, on);
    if (!commit && head && head !== r.head && (await isCheckpointCommit(r, head, on))) commit = head;
    if (branch !== r.branch) return kept(`HEAD is ${branch ? `on ${short(branch)}` : 'detached'} now; the checkpoint was taken ${r.branch ? `on ${short(r.branch)}` : 'on a detached HEAD'}`);
    const index = await gitTry(r.dir, ['write-tree'], {}, on);
    if (index.exitCode !== 0) return kept('the index has unresolved conflicts');
    const staged = index.stdout.trim();
    if (head === r.head) {
      // The commit was never made, or HEAD is back already (an undo cut short): only the index may be left.
      if (staged === r.index) return { restored: true, commit };
      if (staged !== r.tree) return kept('HEAD is as before, but the index holds changes staged since the checkpoint');
    } else if (commit && head === commit) {
      if (staged !== r.tree && staged !== r.index) return kept('the index holds changes staged since the checkpoint');
      if (r.head) await git(r.dir, ['update-ref', '-m', 'runbook: undo the checkpoint', 'HEAD', r.head, commit], {}, on);
      else await git(r.dir, ['update-ref', '-m', 'runbook: undo the checkpoint', '-d', r.branch ?? 'HEAD', commit], {}, on);
    } else {
      return kept(await movedOn(r, commit, head, on));
    }
    await git(r.dir, ['read-tree', r.index], {}, on);
    await refreshIndex(r.dir, on);
    return { restored: true, commit };
  } catch (error) {
    return kept(`git failed: ${(error as Error).message.split('\n')[0]}`);
  }
}
