import { changeKey } from '../../history/applied-state.js';
import type { Plan } from '../../model/plan.js';

/**
 * Each change's checksum in the runbook as it is now, keyed as the journal keys applied changes:
 * `id` on this machine, `id@host` for each host of a change on hosts (each host has its own).
 */
export function plannedChecksums(plan: Plan | undefined): Map<string, string> {
  const sums = new Map<string, string>();
  for (const c of plan?.changes ?? []) {
    if (c.targets) for (const t of c.targets) sums.set(changeKey({ id: c.change.id, host: t.host }), t.checksum);
    else sums.set(c.change.id, c.checksum);
  }
  return sums;
}
