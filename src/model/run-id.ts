import { randomBytes } from 'node:crypto';

const ID = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{3}))?Z-/;

/** The instant a run id names, in ms (ids from before ms precision count as .000); undefined for other ids. */
function timeOf(id: string): number | undefined {
  const m = ID.exec(id);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, ms] = m.map(Number) as number[];
  return Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, Number.isNaN(ms) ? 0 : ms!);
}

function format(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '');
}

/**
 * A new run id, `20261124T101502.123Z-3f9a`, later than every id in `existing`. Runs are created
 * under the lock, so taking the clock (or the last id + 1 ms when the clock is not ahead of
 * it: same millisecond, or a clock stepped back) makes id order the order the runs happened.
 */
export function newRunId(existing: readonly string[] = [], now = new Date()): string {
  const latest = Math.max(-Infinity, ...existing.map((id) => timeOf(id) ?? -Infinity));
  return `${format(Math.max(now.getTime(), latest + 1))}-${randomBytes(2).toString('hex')}`;
}

/**
 * Oldest first: by the time in the id, then by when the run started (ids not made by
 * newRunId), then by id. The same order for every state backend.
 */
export function compareRuns(a: { runId: string; startedAt?: string }, b: { runId: string; startedAt?: string }): number {
  const at = (r: { runId: string; startedAt?: string }) => timeOf(r.runId) ?? (r.startedAt ? Date.parse(r.startedAt) : 0);
  return at(a) - at(b) || (a.startedAt ?? '').localeCompare(b.startedAt ?? '') || a.runId.localeCompare(b.runId);
}
