import type { Plan } from '../model/plan.js';
import type { Redactor } from '../engine/redact.js';
import { bandGlyph, riskText, totalRiskText, verifiedBy } from './risk.js';
import { renderTable } from './table.js';

/** `runbook plan`: the risk table, total, policy verdict and preflight, for a terminal. */
export function renderPlanTable(plan: Plan, redact: Redactor): string {
  const rows = plan.changes.map((c) => [String(c.number), c.change.title, riskText(c.change.risk, c.band), c.change.impact ?? '—', c.change.rollbackTime ?? '—', verifiedBy(c)]);
  const out = [
    `${plan.runbook.title} (${plan.runbook.name}) — ${plan.changes.length} change${plan.changes.length === 1 ? '' : 's'}`,
    '',
    renderTable(['№', 'Change', 'Risk', 'Impact', 'Rollback', 'Verified by'], rows),
    '',
    `Total risk: ${bandGlyph(plan.risk.band)} ${totalRiskText(plan)} (${plan.risk.band})`,
    `Policy: ${plan.verdict.ok ? 'OK' : 'NEEDS --accept-risk'} — ${plan.verdict.text}`,
  ];
  for (const c of plan.changes) if (c.irreversible !== undefined) out.push(`⚠ Change ${c.number} (${c.change.id}) CANNOT BE UNDONE: ${c.irreversible}`);
  if (plan.checkpoint) out.push(`Checkpoint: git commit in ${plan.checkpoint.dir} ("${plan.checkpoint.message}")`);
  if (plan.preflight.length) {
    out.push('', `Preflight (${plan.preflight.length} checks before anything changes):`);
    for (const s of plan.preflight) out.push(`  • ${s.label}`);
  }
  return redact(out.join('\n')) + '\n';
}
