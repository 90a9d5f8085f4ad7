import { remaining } from '../../history/applied-state.js';
import { allRuns } from '../../history/runs.js';
import type { Plan } from '../../model/plan.js';
import type { StateStore } from '../../state/contract.js';

/** Applied changes whose definition in the runbook changed since they were applied. */
export async function editedSinceApply(plan: Plan, store: StateStore): Promise<string[]> {
  const sums = new Map(plan.changes.map((c) => [c.change.id, c.checksum]));
  const warnings: string[] = [];
  for (const run of await allRuns(store)) {
    for (const c of remaining(run.state)) {
      if (sums.has(c.id) && sums.get(c.id) !== c.checksum) {
        warnings.push(`warning: change ${c.id} was applied by run ${run.state.runId} from a different definition (the runbook was edited since); runbook rollback undoes what was recorded then`);
      }
    }
  }
  return warnings;
}
