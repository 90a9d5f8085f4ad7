import type { Plan, PlannedChange } from '../../model/plan.js';
import type { Redactor } from '../../secrets/redact.js';
import { batchLines, exposureCell, hostlessChanges, hostsCell, noHostsLine, rolloutSummary, totalExposure } from '../text/fleet-text.js';
import { bandGlyph, riskText, rollbackCell, totalRiskText, verifiedBy } from '../text/risk.js';
import { preflightLines } from '../text/step-text.js';
import { cellText, renderTable, wrapText } from '../text/table.js';

export interface PlanTableOptions {
  /** A terminal's width: the table and long lines are fitted to it. Unset (a pipe, a file): full width. */
  width?: number;
}

/** `runbook plan`: the risk table, total, policy verdict and preflight, for a terminal. */
export function renderPlanTable(plan: Plan, redact: Redactor, opts: PlanTableOptions = {}): string {
  /** One line of free text, redacted and made safe; on a terminal, wrapped with `indent` under it. */
  const line = (text: string, indent = '') => {
    const safe = cellText(redact(text));
    return opts.width === undefined ? [safe] : wrapText(safe, opts.width - indent.length).map((l, i) => (i === 0 ? l : indent + l));
  };
  const fleet = plan.fleet;
  // A runbook without hosts keeps the table it always had.
  const hostCells = (c: PlannedChange) => (fleet ? [hostsCell(plan, c), exposureCell(c)] : []);
  const rows = plan.changes.map((c) => [String(c.number), c.change.title, riskText(c.change.risk, c.band), ...hostCells(c), c.change.impact ?? '—', rollbackCell(c), verifiedBy(c)].map(redact));
  const headers = ['№', 'Change', 'Risk', ...(fleet ? ['Hosts', 'Risk × hosts'] : []), 'Impact', 'Rollback', 'Verified by'];
  const out = [
    ...line(`${plan.runbook.title} (${plan.runbook.name}) — ${plan.changes.length} change${plan.changes.length === 1 ? '' : 's'}`),
    '',
    renderTable(headers, rows, { maxWidth: opts.width, shrink: fleet ? [1, 3, 5, 7] : [1, 3, 5] }),
    '',
    `Total risk: ${bandGlyph(plan.risk.band)} ${totalRiskText(plan)} (${plan.risk.band})`,
    ...line(`Policy: ${plan.verdict.ok ? 'OK' : 'NEEDS --accept-risk'} — ${plan.verdict.text}`, '  '),
  ];
  if (fleet) {
    out.push('', ...line(`Rollout: ${rolloutSummary(fleet)}; exposure (risk × hosts) ${totalExposure(plan)}`, '  '));
    batchLines(plan, fleet).forEach((b, i) => out.push(...line(`  ${i + 1}. ${b.hosts}${b.canary ? ' (canary)' : ''}`, '     ')));
    if (fleet.sshConfig) out.push(...line(`  ssh config: ${fleet.sshConfig}`, '    '));
    for (const c of hostlessChanges(plan)) out.push(...line(`⚠ ${noHostsLine(plan, c)}`, '  '));
  }
  for (const c of plan.changes) if (c.irreversible !== undefined) out.push(...line(`⚠ Change ${c.number} (${c.change.id}) CANNOT BE UNDONE: ${c.irreversible}`, '  '));
  if (plan.checkpoint) out.push(...line(`Checkpoint: git commit in ${plan.checkpoint.dir} ("${plan.checkpoint.message}")`, '  '));
  const checks = preflightLines(plan);
  if (checks.length) {
    out.push('', `Preflight (${checks.length} check${checks.length === 1 ? '' : 's'} before anything changes):`);
    for (const c of checks) out.push(...line(`  • ${c.label}${c.what ? `: ${c.what}` : ''}`, '    '));
  }
  return out.join('\n') + '\n';
}
