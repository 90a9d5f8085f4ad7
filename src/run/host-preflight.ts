import type { PlannedChange } from '../model/plan.js';
import { requiredCommandsCheck } from '../plan/required-commands.js';
import type { Emitter } from './emitter.js';
import type { Lane } from './lane.js';
import type { PreflightFailure } from './preflight.js';
import { failureOf, runWithRetries } from './step-runner.js';

/** On every reachable host: the programs its steps run (crontab, docker, curl …) are installed, before anything changes anywhere. */
export async function checkHostPrograms(selected: PlannedChange[], lanes: Map<string, Lane | string>, emitter: Emitter, signal: AbortSignal): Promise<PreflightFailure[]> {
  const failures: PreflightFailure[] = [];
  for (const [host, lane] of lanes) {
    if (typeof lane !== 'object' || signal.aborted) continue;
    const check = requiredCommandsCheck([], selected.flatMap((c) => (c.targets ?? []).filter((t) => t.host === host).map((t) => ({ ...c, ...t }))), false);
    if (!check) continue;
    lane.current = { phase: 'preflight', index: 0, label: check.label, host };
    const ref = lane.current;
    try {
      await runWithRetries(check, 'preflight', lane.env, signal, {
        started: (attempt) => emitter.emit({ type: 'step.started', ...ref, attempt }),
        finished: (attempt, r) => emitter.emit(r.ok ? { type: 'step.finished', ...ref, attempt, ok: true, durationMs: r.ms, detail: r.outcome.detail } : { type: 'step.finished', ...ref, attempt, ok: false, durationMs: r.ms, failure: r.failure }),
      });
    } catch (error) {
      failures.push({ step: `${host}: ${check.label}`, failure: failureOf(error) });
    }
  }
  return failures;
}
