import type { Plan, PlannedChange } from '../model/plan.js';

/** The changes a run covers: `--only <id>`, `--from <id>` onwards, or all of them. */
export function selectChanges(plan: Plan, only?: string, from?: string): PlannedChange[] {
  if (only) return plan.changes.filter((c) => c.change.id === only);
  if (from) return plan.changes.slice(plan.changes.findIndex((c) => c.change.id === from));
  return plan.changes;
}
