import type { Plan } from '../model/plan.js';
import type { Redactor } from '../engine/redact.js';
import { bandGlyph, riskText, totalRiskText, verifiedBy } from './risk.js';
import { markdownTable } from './table.js';

const list = (items: string[]) => items.map((i) => `- ${i}`).join('\n');

/** `plan --format markdown`: the report with the sections of the seed document. */
export function renderPlanMarkdown(plan: Plan, redact: Redactor): string {
  const rb = plan.runbook;
  const out: string[] = [`# ${rb.title}`, ''];
  out.push(`**Verdict:** ${plan.verdict.ok ? '✅' : '⚠️'} ${rb.verdict ?? (plan.verdict.ok ? 'within policy' : 'outside policy')} — total risk ${bandGlyph(plan.risk.band)} **${totalRiskText(plan)}**`, '');
  if (rb.description) out.push(rb.description, '');

  out.push('## Current state and preflight', '');
  if (rb.state.length) out.push('```', ...rb.state, '```', '');
  if (plan.preflight.length) out.push('Checked before anything changes:', '', list(plan.preflight.map((s) => s.label)), '');

  out.push('## Analysis of each change', '');
  for (const c of plan.changes) {
    const ch = c.change;
    out.push(`### ${c.number}. ${ch.title}`, '', `**Risk:** ${riskText(ch.risk, c.band)} · **Impact:** ${ch.impact ?? '—'} · **Rollback time:** ${ch.rollbackTime ?? '—'}`, '');
    if (ch.does.length) out.push('**What it does:**', '', list(ch.does), '');
    if (ch.breaks.length) {
      out.push('**What can break:**', '');
      out.push(list(ch.breaks.map((b) => `${b.what}${b.probability ? ` (probability ${b.probability})` : ''}${b.fix ? ` — fix: ${b.fix}` : ''}`)), '');
    }
    if (ch.protections.length) out.push('**Protections:**', '', list(ch.protections), '');
    if (ch.benefits.length) out.push('**Benefits:**', '', list(ch.benefits), '');
    out.push('**Steps:**', '', list([...c.apply.map((s) => `apply: \`${s.label}\``), ...c.verify.map((s) => `verify: \`${s.label}\``)]), '');
    const rollback = c.irreversible !== undefined ? `⚠️ **cannot be undone:** ${c.irreversible}` : c.rollback ? c.rollback.map((s) => `\`${s.label}\``).join(', ') : 'automatic (inverse of each apply step, in reverse order)';
    out.push(`**Rollback:** ${rollback}`, '');
  }

  out.push('## Risk table', '');
  out.push(markdownTable(['№', 'Change', 'Risk', 'Impact', 'Rollback', 'Verified by'], plan.changes.map((c) => [String(c.number), c.change.title, riskText(c.change.risk, c.band), c.change.impact ?? '—', c.change.rollbackTime ?? '—', verifiedBy(c)])));
  out.push('', `**Total risk:** ${bandGlyph(plan.risk.band)} ${totalRiskText(plan)} (${plan.risk.band})`, '', `**Policy:** ${plan.verdict.text}`, '');

  out.push('## Checks', '');
  out.push(list(plan.changes.flatMap((c) => c.verify.map((s) => `after ${c.number} (${c.change.id}): ${s.label}${s.retries ? ` (retries ${s.retries})` : ''}`))) || '- none', '');

  out.push('## Apply plan', '');
  const order = [plan.checkpoint ? `Checkpoint: commit ${plan.checkpoint.dir} ("${plan.checkpoint.message}")` : 'No checkpoint', ...plan.changes.map((c) => `Apply ${c.number}. ${c.change.title}, then verify`)];
  out.push(order.map((s, i) => `${i + 1}. ${s}`).join('\n'), '', `On failure: ${rb.policy.onFailure} — stop, undo in reverse order, report.`, '');

  if (rb.troubleshooting.length) {
    out.push('## Problems and fixes', '');
    rb.troubleshooting.forEach((p, i) => out.push(`### Problem ${i + 1}: ${p.title}`, '', ...(p.symptom ? [`**Symptom:** ${p.symptom}`, ''] : []), ...(p.fix ? [`**Fix:** ${p.fix}`, ''] : [])));
  }
  if (rb.expected.length) {
    out.push('## Expected results', '', markdownTable(['Metric', 'Before', 'After', 'Gain'], rb.expected.map((e) => [e.metric, e.before ?? '', e.after ?? '', e.gain ?? ''])), '');
  }
  out.push('## Verdict', '', `${rb.verdict ?? (plan.verdict.ok ? 'Within policy.' : 'Outside policy.')} Total risk ${totalRiskText(plan)}; ${plan.verdict.text}.`, '');
  return redact(out.join('\n'));
}
