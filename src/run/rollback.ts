import { changeKey, undoSteps, type ChangeState } from '../history/applied-state.js';
import type { Phase, StepFailure } from '../model/events.js';
import { fillSecrets, type SecretValues } from '../secrets/secrets.js';
import type { ResolvedStep } from '../model/runbook.js';
import type { Emitter } from './emitter.js';
import { journalProcess } from './orphans.js';
import { readSnapshots, SnapshotNotReadableError } from './snapshots.js';
import { abortReason, failureOf, retryFields, runWithRetries, type StepEnvironment } from './step-runner.js';

/**
 * How a rollback is interrupted: `stop` lets the running undo step finish and starts no other
 * (killing an undo half-way is worse than finishing it); `kill` kills the running step too.
 */
export interface RollbackSignals {
  stop: AbortSignal;
  kill: AbortSignal;
}

export interface RollbackResult {
  ok: boolean;
  undone: string[];
  failed?: { changeId: string; failure: StepFailure; host?: string };
  /** Stopped by an interrupt before finishing. */
  interrupted: boolean;
}

/**
 * Undoes changes in the given order (callers pass reverse apply order): each change's
 * recorded rollback steps, or the inverses of its apply steps in reverse. Stops at the first
 * rollback step that fails — undoing earlier changes under a broken later one could make
 * things worse — and says which changes remain. A change declared `rollback: { none: … }`
 * is left applied, as its author said it must be, and the rollback is not ok (the system is
 * not as before): the others are still undone.
 */
export async function rollbackChanges(
  changes: ChangeState[],
  reason: string,
  emitter: Emitter,
  base: StepEnvironment,
  secrets: SecretValues,
  signals: RollbackSignals,
): Promise<RollbackResult> {
  const stopped = () => signals.stop.aborted || signals.kill.aborted;
  const result: RollbackResult = { ok: true, undone: [], interrupted: false };
  if (changes.length === 0) return result;
  const host = changes[0]!.host;
  const on = host !== undefined ? { host } : {};
  // Every snapshot the undo needs is read back first: one that is missing or damaged stops the rollback before anything is written.
  const undo = new Map<ChangeState, ResolvedStep[]>();
  let unreadable: { changeId: string; failure: StepFailure } | undefined;
  for (const change of changes) {
    if (change.irreversible !== undefined) continue;
    try {
      undo.set(change, await Promise.all(undoSteps(change).map((step) => readSnapshots(step, emitter.snapshots))));
    } catch (error) {
      if (!(error instanceof SnapshotNotReadableError)) throw error;
      unreadable = { changeId: change.id, failure: { message: error.message } };
      break;
    }
  }
  await emitter.emit({ type: 'rollback.started', changeIds: changes.map(changeKey), reason, pid: process.pid, ...on }, true);
  if (unreadable) {
    await emitter.emit({ type: 'change.rolledBack', changeId: unreadable.changeId, ok: false, failure: unreadable.failure, durationMs: 0, ...on }, true);
    return { ok: false, undone: [], failed: { ...unreadable, ...on }, interrupted: false };
  }
  const phase: Phase = 'rollback';
  for (const change of changes) {
    // Interrupted between changes: the next one is left as it is, whole, and reported.
    if (stopped()) return { ok: false, undone: result.undone, interrupted: true };
    if (change.irreversible !== undefined) {
      const failure = { message: `cannot be undone (rollback: none): ${change.irreversible}` };
      await emitter.emit({ type: 'change.rolledBack', changeId: change.id, ok: false, failure, durationMs: 0, ...on }, true);
      result.ok = false;
      result.failed ??= { changeId: change.id, failure, ...on };
      continue;
    }
    const steps = undo.get(change)!;
    await emitter.emit({ type: 'change.rollingBack', changeId: change.id, steps: steps.length, ...on }, true);
    const started = performance.now();
    for (const [index, journaled] of steps.entries()) {
      const { step, missing } = fillSecrets(journaled, secrets);
      const ref = { phase, changeId: change.id, index, label: step.label, ...on };
      let failure: StepFailure | undefined;
      if (missing.length > 0) {
        failure = { message: `cannot restore: the secret(s) ${missing.join(', ')} are needed; set them in the environment (or pass --var) and run runbook rollback again` };
      } else if (stopped()) {
        failure = { message: abortReason(signals.kill.aborted ? signals.kill : signals.stop) };
      } else {
        try {
          const spawned = (pid: number) => journalProcess(emitter, ref, pid);
          await runWithRetries(step, phase, { ...base, output: (chunk) => void emitter.emit({ type: 'step.output', ...ref, chunk }), spawned }, signals.kill, {
            started: (attempt) => emitter.emit({ type: 'step.started', ...ref, attempt }),
            finished: (attempt, r) =>
              emitter.emit(
                r.ok
                  ? { type: 'step.finished', ...ref, attempt, ok: true, durationMs: r.ms, detail: r.outcome.detail }
                  : { type: 'step.finished', ...ref, attempt, ok: false, durationMs: r.ms, failure: r.failure, ...retryFields(r) },
              ),
          }, signals.stop);
        } catch (error) {
          failure = failureOf(error);
        }
      }
      if (failure) {
        await emitter.emit({ type: 'change.rolledBack', changeId: change.id, ok: false, failure, durationMs: performance.now() - started, ...on }, true);
        return { ok: false, undone: result.undone, failed: { changeId: change.id, failure, ...on }, interrupted: stopped() };
      }
    }
    await emitter.emit({ type: 'change.rolledBack', changeId: change.id, ok: true, durationMs: performance.now() - started, ...on }, true);
    result.undone.push(changeKey(change));
  }
  return result;
}
