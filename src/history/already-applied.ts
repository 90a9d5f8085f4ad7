import type { PlannedChange } from '../model/plan.js';
import { isSettledApplied } from './applied-state.js';
import type { RunView } from './runs.js';

/** Where a change is applied now: the newest run that applied it and has not rolled it back. */
export interface AppliedBy {
  runId: string;
  /** When its apply finished. */
  at?: string;
  checksum: string;
}

/** Every change still applied (and settled), by id, with the newest run that applied it. */
export function appliedChanges(runs: RunView[]): Map<string, AppliedBy> {
  const applied = new Map<string, AppliedBy>();
  // Runs oldest first, each folded with its later rollbacks: the newest run that still has it applied wins.
  for (const { state } of runs) for (const c of state.changes) if (isSettledApplied(c)) applied.set(c.id, { runId: state.runId, at: c.appliedAt, checksum: c.checksum });
  return applied;
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
    const by = applied.get(change.change.id);
    if (!by) decision.run.push({ change });
    else if (reapply.includes(change.change.id)) decision.run.push({ change, replaces: by });
    else if (by.checksum === change.checksum) decision.skip.push({ change, by });
    else decision.refuse.push({ change, by });
  }
  return decision;
}
