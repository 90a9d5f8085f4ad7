import type { Plan, PlannedChange } from '../../model/plan.js';
import { formatMs } from '../../model/units.js';
import { hasCanary } from '../../plan/fleet.js';
import { selectChanges } from '../../plan/select.js';
import { ChangeProgress } from './step-progress.js';

/** A host's row in one rollout: its step counter and running step, and how far it is. */
export interface HostRow {
  host: string;
  progress: ChangeProgress;
  changes: number;
  verified: number;
  /** Every change of the host has verify steps (else the row says "applied"). */
  verifies: boolean;
  startedAt?: number;
  state: 'waiting' | 'running' | 'done' | 'failed' | 'closed';
  /** Why the host failed (host.failed). */
  failure?: string;
  /** Changes of the host's rollback the row shows and that are still to be undone. */
  undoing: number;
  undoFailure?: string;
}

/** One rollout: consecutive changes on hosts, run batch by batch (the executor's stages). */
export interface Rollout {
  index: number;
  changeIds: string[];
  batches: string[][];
  canary: boolean;
  hosts: string[];
  rows: Map<string, HostRow>;
  /** The running batch, 1-based; 0 before the first. */
  batch: number;
  done: number;
  failed: string[];
  /** Failed hosts it tolerates (more stop it). */
  maxFailures: number;
  watching?: number;
  /** The pause between batches (ms). */
  pause: number;
  /** Why it stopped before its last batch (": host-3 failed", ": interrupted"). */
  stopped?: string;
  over: boolean;
  /** " (motd, cron)": which rollout this is, when a run has more than one. */
  name?: string;
}

/**
 * The rollouts a run makes, in order, as the executor cuts them: each run of consecutive
 * changes on hosts, over the hosts those changes target, in the plan's batches.
 */
export function rolloutsOf(plan: Plan): { rollouts: Rollout[]; rolloutOf: Map<string, Rollout>; stages: (PlannedChange | Rollout)[] } {
  const stages: (PlannedChange | Rollout)[] = [];
  const rollouts: Rollout[] = [];
  const rolloutOf = new Map<string, Rollout>();
  let changes: PlannedChange[] = [];
  const close = () => {
    const group = changes;
    changes = [];
    if (group.length === 0) return;
    const r = rolloutOver(plan, group, rollouts.length);
    if (r.batches.length === 0) return;
    rollouts.push(r);
    stages.push(r);
    for (const c of group) rolloutOf.set(c.change.id, r);
  };
  for (const c of selectChanges(plan)) {
    if (c.targets === undefined) {
      close();
      stages.push(c);
    } else changes.push(c);
  }
  close();
  if (rollouts.length > 1) for (const r of rollouts) r.name = ` (${r.changeIds.join(', ')})`;
  return { rollouts, rolloutOf, stages };
}

function rolloutOver(plan: Plan, changes: PlannedChange[], index: number): Rollout {
  const fleet = plan.fleet!;
  const rows = new Map<string, HostRow>();
  for (const c of changes) {
    for (const t of c.targets ?? []) {
      const row = rows.get(t.host) ?? { host: t.host, progress: new ChangeProgress(0), changes: 0, verified: 0, verifies: true, state: 'waiting', undoing: 0 };
      row.changes++;
      row.progress.total += t.apply.length + t.verify.length;
      row.verifies &&= t.verify.length > 0;
      rows.set(t.host, row);
    }
  }
  const batches = fleet.batches.map((b) => b.filter((h) => rows.has(h))).filter((b) => b.length > 0);
  const canary = hasCanary(plan.runbook.rollout) && fleet.batches[0]!.some((h) => rows.has(h));
  return { index, changeIds: changes.map((c) => c.change.id), batches, canary, hosts: batches.flat(), rows, batch: 0, done: 0, failed: [], maxFailures: fleet.maxFailures, pause: fleet.pause, over: false };
}

/** The rollout's one-line counter: "Rollout: batch 2/3 · 1/4 hosts done · 0 failed". */
export function counterOf(r: Rollout): string {
  const tail = ` · ${r.done}/${r.hosts.length} hosts done · ${r.failed.length} failed${r.watching !== undefined ? ` · watching ${formatMs(r.watching)}` : ''}`;
  const name = r.name ?? '';
  if (r.stopped !== undefined) return `Rollout${name} stopped${r.stopped}${tail}`;
  const n = r.batches.length;
  if (r.batch === 0) return `Rollout${name}: ${n} batch${n === 1 ? '' : 'es'}${r.canary ? ', the canary first' : ''}${tail}`;
  const running = r.batches[r.batch - 1]!.some((h) => ['waiting', 'running', 'failed'].includes(r.rows.get(h)!.state));
  const pausing = !running && r.batch < n && r.pause > 0 ? ` · pause ${formatMs(r.pause)} before batch ${r.batch + 1}` : '';
  return `Rollout${name}: batch ${r.batch}/${n}${r.canary && r.batch === 1 ? ' (canary)' : ''}${tail}${pausing}`;
}

/** A batch's title: "batch 1/3 (canary): host-1". */
export function batchTitle(r: Rollout, i: number): string {
  return `batch ${i}/${r.batches.length}${r.canary && i === 1 ? ' (canary)' : ''}: ${r.batches[i - 1]!.join(', ')}`;
}
