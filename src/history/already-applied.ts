import type { PlannedChange } from '../model/plan.js';
import { changeKey, isSettledApplied } from './applied-state.js';
import type { RunView } from './runs.js';

/** Where a change is applied now: the newest run that applied it and has not rolled it back. */
export interface AppliedBy {
  runId: string;
  /** When its apply finished. */
  at?: string;
  checksum: string;
}

/** Every change still applied (and settled), by id (`id@host` on a host), with the newest run that applied it. */
export function appliedChanges(runs: RunView[]): Map<string, AppliedBy> {
  const applied = new Map<string, AppliedBy>();
  // Runs oldest first, each folded with its later rollbacks: the newest run that still has it applied wins.
  for (const { state } of runs) for (const c of state.changes) if (isSettledApplied(c)) applied.set(changeKey(c), { runId: state.runId, at: c.appliedAt, checksum: c.checksum });
  return applied;
}

/**
 * A change on hosts, per host: applied as it is on every host → one `by`; applied from another
 * definition on some host → that; otherwise run it on the hosts that do not have it yet.
 */
function onHosts(change: PlannedChange, applied: Map<string, AppliedBy>): { same?: AppliedBy; other?: AppliedBy; todo: PlannedChange } {
  const targets = change.targets ?? [];
  const found = targets.map((t) => ({ t, by: applied.get(changeKey({ id: change.change.id, host: t.host })) }));
  const other = found.find((f) => f.by && f.by.checksum !== f.t.checksum)?.by;
  const left = found.filter((f) => !f.by).map((f) => f.t);
  const same = left.length === 0 ? found[0]?.by : undefined;
  return { same, other, todo: left.length === targets.length ? change : { ...change, targets: left } };
}

/** What a state-aware apply does with each selected change. */
export interface ApplyDecision {
  /** To run now (with what it goes on top of, for `--reapply`). */
  run: { change: PlannedChange; replaces?: AppliedBy }[];
  /** Applied earlier with the same definition: not run again. */
  skip: { change: PlannedChange; by: AppliedBy }[];
  /** Applied earlier with another definition, and not named in `--reapply`: the apply is refused. */
  refuse: { change: PlannedChange; by: AppliedBy }[];
}

/**
 * A change already applied (by a run not rolled back) with the same checksum is skipped; with
 * another checksum it is refused, unless it is named in `reapply`, which applies it again on
 * top of what is there (the new run journals what it replaces). Pure.
 */
export function decideApply(selected: PlannedChange[], runs: RunView[], reapply: string[]): ApplyDecision {
  const applied = appliedChanges(runs);
  const decision: ApplyDecision = { run: [], skip: [], refuse: [] };
  for (const change of selected) {
    if (change.targets) {
      const hosts = onHosts(change, applied);
      const anyBy = hosts.other ?? hosts.same;
      if (reapply.includes(change.change.id)) decision.run.push({ change, ...(anyBy ? { replaces: anyBy } : {}) });
      else if (hosts.other) decision.refuse.push({ change, by: hosts.other });
      else if (hosts.same && change.targets.length > 0) decision.skip.push({ change, by: hosts.same });
      else decision.run.push({ change: hosts.todo });
      continue;
    }
    const by = applied.get(change.change.id);
    if (!by) decision.run.push({ change });
    else if (reapply.includes(change.change.id)) decision.run.push({ change, replaces: by });
    else if (by.checksum === change.checksum) decision.skip.push({ change, by });
    else decision.refuse.push({ change, by });
  }
  return decision;
}
