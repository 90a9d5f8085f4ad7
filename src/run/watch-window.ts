import type { PlannedChange } from '../model/plan.js';
import type { ResolvedStep } from '../model/runbook.js';
import type { Emitter } from './emitter.js';
import { ChangeFailed } from './lane.js';
import { abortableSleep, abortReason, failureOf } from './step-runner.js';

/**
 * After the last change: re-run every applied change's verify steps until the window ends. An
 * interrupt, also between rounds, ends the window at once as a failure of the last change.
 */
export async function watchWindow(
  selected: PlannedChange[],
  emitter: Emitter,
  watch: { duration: number; interval: number },
  signal: AbortSignal,
  run: (steps: ResolvedStep[], changeId: string) => Promise<void>,
): Promise<{ change: PlannedChange; error: ChangeFailed } | undefined> {
  const fail = async (planned: PlannedChange, error: ChangeFailed) => {
    await emitter.emit({ type: 'change.failed', changeId: planned.change.id, phase: 'watch', failure: error.failure }, true);
    await emitter.emit({ type: 'watch.finished', ok: false }, true);
    return { change: planned, error };
  };
  const last = selected[selected.length - 1];
  if (!last) return undefined;
  await emitter.emit({ type: 'watch.started', durationMs: watch.duration }, true);
  const end = performance.now() + watch.duration;
  while (performance.now() < end) {
    for (const planned of selected) {
      try {
        await run(planned.verify, planned.change.id);
      } catch (error) {
        if (!(error instanceof ChangeFailed)) throw error;
        return fail(planned, error);
      }
    }
    const left = end - performance.now();
    try {
      if (left > 0) await abortableSleep(Math.min(watch.interval, left), signal);
    } catch (error) {
      return fail(last, new ChangeFailed('watch', 'watch window', failureOf(error)));
    }
  }
  if (signal.aborted) return fail(last, new ChangeFailed('watch', 'watch window', { message: abortReason(signal) }));
  await emitter.emit({ type: 'watch.finished', ok: true }, true);
  return undefined;
}
