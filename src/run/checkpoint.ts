import { remaining, type RunState } from '../history/applied-state.js';
import type { CheckpointRecord } from '../model/checkpoint.js';
import type { Plan } from '../model/plan.js';
import type { ResolvedStep } from '../model/runbook.js';
import { checkpointCheckLabel } from '../plan/checkpoint-label.js';
import { secretValues, type SecretValues } from '../secrets/secrets.js';
import { StepFailedError } from '../steps/contract.js';
import type { Emitter } from './emitter.js';
import { failureOf } from './step-runner.js';

type Checkpoint = NonNullable<Plan['checkpoint']>;

/**
 * The runbook's git checkpoint over a run's life: refused at preflight when it would commit
 * secrets or large files; taken with everything needed to undo it journaled first; undone when
 * a rollback leaves nothing of the run applied; and `rollback --checkpoint`'s reset.
 */

/** Preflight check (also in `plan --check` and `apply --dry-run`): the checkpoint would not commit a secret or a large file. */
export async function checkCheckpoint(plan: Plan, emitter: Emitter, env: NodeJS.ProcessEnv): Promise<{ step: string; failure: { message: string } }[]> {
  if (!plan.checkpoint) return [];
  const { dir, exclude, include } = plan.checkpoint;
  const ref = { phase: 'preflight' as const, index: plan.preflight.length, label: checkpointCheckLabel(dir) };
  await emitter.emit({ type: 'step.started', ...ref, attempt: 1 });
  const started = performance.now();
  let problem: string | undefined;
  try {
    const { checkpointRefusal, RUNBOOK_CHECKPOINT_ADVICE } = await import('../steps/kit/git-checkpoint-guard.js');
    problem = await checkpointRefusal(dir, { exclude, include, secrets: secretValues(plan.runbook.secrets, plan.vars, env) }, RUNBOOK_CHECKPOINT_ADVICE);
  } catch (error) {
    problem = failureOf(error).message;
  }
  const durationMs = performance.now() - started;
  await emitter.emit(problem ? { type: 'step.finished', ...ref, attempt: 1, ok: false, durationMs, failure: { message: problem } } : { type: 'step.finished', ...ref, attempt: 1, ok: true, durationMs });
  return problem ? [{ step: ref.label, failure: { message: problem } }] : [];
}

/**
 * Takes the runbook's checkpoint. When it commits, HEAD, its branch, the index (as a tree) and
 * the tree to commit are journaled and fsynced first, then the commit id. Returns the checkpoint
 * commit (HEAD itself when the tree was clean).
 */
export async function takeRunCheckpoint(cp: Checkpoint, emitter: Emitter, secrets: SecretValues): Promise<string> {
  const { checkpointRefusal, RUNBOOK_CHECKPOINT_ADVICE } = await import('../steps/kit/git-checkpoint-guard.js');
  const { commitCheckpoint, prepareCheckpoint } = await import('../steps/kit/git-checkpoint.js');
  // Again, right before committing: files may have appeared since preflight.
  const refusal = await checkpointRefusal(cp.dir, { exclude: cp.exclude, include: cp.include, secrets }, RUNBOOK_CHECKPOINT_ADVICE);
  if (refusal) throw new StepFailedError(refusal);
  const { needsCommit, ...record } = await prepareCheckpoint(cp.dir, cp.message, cp.exclude);
  if (!needsCommit) {
    await emitter.emit({ type: 'checkpoint.taken', dir: cp.dir, commit: record.head!, createdCommit: false }, true);
    return record.head!;
  }
  await emitter.emit({ type: 'checkpoint.started', ...record }, true);
  let commit: string;
  try {
    commit = await commitCheckpoint(record);
  } catch (error) {
    // Half-done (HEAD moved but the index not yet, say): put back what was, then report the failure.
    await undoAndJournal(record, emitter);
    throw error;
  }
  await emitter.emit({ type: 'checkpoint.taken', dir: cp.dir, commit, createdCommit: true }, true);
  return commit;
}

/**
 * After a rollback: when nothing of the run is applied any more, takes the checkpoint commit
 * back (HEAD and index as before the run) and journals how it went. A checkpoint that was kept
 * (HEAD had moved on) is tried again only with `retryKept` (after `rollback --checkpoint`).
 */
export async function undoRunCheckpoint(state: RunState, emitter: Emitter, retryKept = false): Promise<void> {
  const cp = state.checkpointCommit;
  if (!cp || remaining(state).length > 0 || cp.undone?.restored || (cp.undone && !retryKept)) return;
  await undoAndJournal(cp, emitter);
}

async function undoAndJournal(record: CheckpointRecord & { commit?: string }, emitter: Emitter): Promise<void> {
  const { undoCheckpoint } = await import('../steps/kit/git-checkpoint.js');
  const r = await undoCheckpoint(record);
  await emitter.emit({ type: 'checkpoint.undone', dir: record.dir, commit: r.commit, restored: r.restored, ...(r.restored ? {} : { reason: r.reason, finish: r.finish }) }, true);
}

/** Files that `file` steps write: a change's explicit rollback writes the files its apply changed. */
function filePaths(steps: ResolvedStep[]): string[] {
  return steps.flatMap((s) => {
    const path = (s.params as { path?: unknown } | null)?.path;
    return s.type === 'file' && typeof path === 'string' ? [path] : [];
  });
}

function resetTarget(state: RunState) {
  if (!state.checkpoint) throw new Error(`run ${state.runId} recorded no checkpoint`);
  return {
    dir: state.checkpoint.dir,
    commit: state.checkpoint.commit,
    ownPaths: state.changes.flatMap((c) => [...c.paths, ...filePaths(c.rollback ?? [])]),
    exclude: state.checkpointCommit?.exclude ?? [],
    keepHead: state.checkpointCommit?.undone?.restored === true,
  };
}

/** `rollback --checkpoint`: what resetting to the run's checkpoint would discard that the run did not do. */
export async function checkpointForeignChanges(state: RunState): Promise<string[]> {
  const { diffFromCheckpoint } = await import('../steps/kit/git-reset.js');
  const t = resetTarget(state);
  const d = await diffFromCheckpoint(t.dir, t.commit, t);
  return [...d.changed, ...d.commits];
}

/** `rollback --checkpoint`: returns the checkout's files to the run's checkpoint (files created since by others are kept). */
export async function resetToRunCheckpoint(state: RunState, force: boolean): Promise<{ foreign: string[]; kept: string[] }> {
  const { resetToCheckpoint } = await import('../steps/kit/git-reset.js');
  const t = resetTarget(state);
  return resetToCheckpoint(t.dir, t.commit, { ...t, force });
}
