import type { RehearsalResult } from '../model/events.js';
import type { RunView } from './runs.js';

/** A change's most recent rollback rehearsal (`apply --rehearse`), as `plan` shows it. */
export interface LastRehearsal {
  result: RehearsalResult;
  /** When it finished (ISO time). */
  at: string;
  runId: string;
  /** The definition rehearsed: another than the runbook's now means it was edited (or its vars changed) since. */
  checksum: string;
  /** Why it failed, or why it was skipped. */
  message?: string;
}

/** The last rehearsal of each change, by change id, from every run's journal (newest wins). Pure. */
export function lastRehearsals(runs: RunView[]): Map<string, LastRehearsal> {
  const last = new Map<string, LastRehearsal>();
  for (const run of runs) {
    for (const c of run.state.changes) {
      const r = c.rehearsal;
      const seen = last.get(c.id);
      if (r && (!seen || seen.at <= r.at)) last.set(c.id, { result: r.result, at: r.at, runId: run.state.runId, checksum: r.checksum, ...(r.failure ? { message: r.failure.message } : {}) });
    }
  }
  return last;
}
