import type { Fleet, Plan, PlannedChange } from '../../model/plan.js';
import { formatMs } from '../../model/units.js';

/** How many hosts a change runs on: its targets, or 1 (this machine) for a local change. */
export function hostCount(c: PlannedChange): number {
  return c.targets ? c.targets.length : 1;
}

/** Why a change on hosts has none: its groups are empty, or --limit left none of their hosts. */
function noHostsWhy(plan: Plan, c: PlannedChange): 'empty' | '--limit' {
  return c.change.on.some((g) => (plan.runbook.hosts[g]?.length ?? 0) > 0) ? '--limit' : 'empty';
}

/** The plan's Hosts column: `web (3)`, `db, web (4)`, `local`, `web (none: --limit)` or `web (empty)`. */
export function hostsCell(plan: Plan, c: PlannedChange): string {
  if (!c.targets) return 'local';
  const n = c.targets.length;
  return `${c.change.on.join(', ')} (${n > 0 ? n : noHostsWhy(plan, c) === 'empty' ? 'empty' : 'none: --limit'})`;
}

/** The warning for a change on hosts that has none. */
export function noHostsLine(plan: Plan, c: PlannedChange): string {
  const groups = c.change.on.join(', ');
  return `Change ${c.number} (${c.change.id}) has no hosts: ${noHostsWhy(plan, c) === 'empty' ? `${c.change.on.length === 1 ? 'its group' : 'its groups'} ${groups} ${c.change.on.length === 1 ? 'is' : 'are'} empty` : `--limit leaves none of ${groups}`}`;
}

/** Exposure: what is at stake, risk × hosts (`3×4 = 12`). */
export function exposureCell(c: PlannedChange): string {
  const n = hostCount(c);
  return `${c.change.risk}×${n} = ${c.change.risk * n}`;
}

export function totalExposure(plan: Plan): number {
  return plan.changes.reduce((sum, c) => sum + c.change.risk * hostCount(c), 0);
}

/** Changes on hosts that --limit left without any. */
export function hostlessChanges(plan: Plan): PlannedChange[] {
  return plan.changes.filter((c) => c.targets?.length === 0);
}

const hostsText = (n: number) => `${n} host${n === 1 ? '' : 's'}`;

/** Whether the rollout starts with a canary batch (canary above 0; without `rollout:`, one host). */
function hasCanary(plan: Plan): boolean {
  const canary = plan.runbook.rollout?.canary ?? { count: 1 };
  return 'count' in canary ? canary.count > 0 : canary.percent > 0;
}

/** The batches in order, the first one marked when it is the canary. */
export function batchLines(plan: Plan, fleet: Fleet): { hosts: string; canary: boolean }[] {
  const canary = hasCanary(plan);
  return fleet.batches.map((hosts, i) => ({ hosts: hosts.join(', '), canary: i === 0 && canary }));
}

/** The rollout in one sentence: hosts, batches, what stops it, the pause. */
export function rolloutSummary(fleet: Fleet): string {
  const pause = fleet.pause > 0 ? `a pause of ${formatMs(fleet.pause)} between batches` : 'no pause between batches';
  const stop = fleet.maxFailures === 0 ? 'stops at the first failed host' : `stops when more than ${hostsText(fleet.maxFailures)} fail`;
  return `${hostsText(fleet.hosts.length)} in ${fleet.batches.length} batch${fleet.batches.length === 1 ? '' : 'es'}; ${stop}; ${pause}`;
}
