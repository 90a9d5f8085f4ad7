import type { LastRehearsal } from '../../history/rehearsals.js';
import type { Plan } from '../../model/plan.js';

/** `2026-12-06 01:43 UTC`: minutes are enough to tell rehearsals apart for a reviewer. */
function when(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/**
 * One line per change of the plan: how its last rollback rehearsal (`apply --rehearse`) went,
 * when and in which run, and whether the change was edited since; empty when none of the
 * changes was ever rehearsed.
 */
export function rehearsalLines(plan: Plan, last: Map<string, LastRehearsal> | undefined): string[] {
  if (!last || !plan.changes.some((c) => last.has(c.change.id))) return [];
  return plan.changes.map((c) => {
    const r = last.get(c.change.id);
    const head = `${c.number}. ${c.change.id}`;
    if (!r) return `${head} — never rehearsed`;
    const verdict = r.result === 'passed' ? 'passed: undo exact' : r.result === 'failed' ? 'FAILED' : 'not rehearsed';
    const edited = r.checksum !== c.checksum ? ' — the change was edited (or its vars changed) since' : '';
    const why = r.result !== 'passed' && r.message ? `: ${r.message}` : '';
    return `${head} — ${verdict} ${when(r.at)} (run ${r.runId})${why}${edited}`;
  });
}
