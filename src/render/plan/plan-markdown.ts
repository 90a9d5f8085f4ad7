import type { Plan, PlannedChange } from '../../model/plan.js';
import type { OnFailure } from '../../model/runbook.js';
import type { Redactor } from '../../secrets/redact.js';
import { mdBlock, mdCell, mdCode, mdInline, mdList } from '../text/markdown-text.js';
import { batchLines, exposureCell, hostlessChanges, hostsCell, noHostsLine, rolloutSummary, totalExposure } from '../text/fleet-text.js';
import { bandGlyph, riskText, rollbackCell, totalRiskText, verifiedBy } from '../text/risk.js';
import { preflightLines } from '../text/step-text.js';
import { cellText, markdownTable } from '../text/table.js';

/** One preflight check as `plan --check` ran it against the live system. */
export interface LiveCheck {
  label: string;
  ok: boolean;
  /** The check's detail, or why it failed. */
  detail?: string;
}

const ON_FAILURE: Record<OnFailure, string> = {
  'rollback-all': 'stop, undo the failed change and every change applied before it in this run (newest first), report',
  'rollback-change': 'stop, undo the failed change only, report',
  'rollback-failed': 'on hosts: undo every change of the failed hosts only, leave the hosts that passed applied, report (on this machine: as rollback-change)',
  stop: 'stop and report; nothing is undone (runbook rollback undoes it later)',
};

/** A fenced block that no line of the text can close early. */
function fenced(lines: string[]): string[] {
  const longest = Math.max(0, ...lines.flatMap((l) => [...l.matchAll(/`+/g)].map((m) => m[0].length)));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return [fence, ...lines.map(cellText), fence];
}

/**
 * `plan --format markdown`: the report with the sections of the seed document. The verdict is
 * the one `plan` computes from the policy; what the runbook says (its `verdict`, its `state`)
 * is shown as the author's words, never as something measured or checked now. Runbook text is
 * redacted, then escaped, so it cannot change the document's structure.
 */
export function renderPlanMarkdown(plan: Plan, redact: Redactor, live?: LiveCheck[]): string {
  const rb = plan.runbook;
  const inline = (text: string) => mdInline(redact(text));
  const cell = (text: string) => mdCell(redact(text));
  const block = (text: string) => mdBlock(redact(text));
  const code = (text: string) => mdCode(redact(text));
  const list = (items: string[]) => mdList(items.map(redact));
  const section = (title: string, ...body: string[]) => out.push(`## ${title}`, '', ...body);
  const policy = `${plan.verdict.ok ? '✅ **Within policy.**' : '⚠️ **Outside policy.**'} Total risk ${totalRiskText(plan)}; ${plan.verdict.text}.`;
  const author = rb.verdict === undefined ? [] : [`**Author's assessment** (as written in the runbook; \`runbook plan\` did not check it): ${block(rb.verdict)}`, ''];

  const out: string[] = [`# ${inline(rb.title)}`, ''];
  out.push(`**Verdict:** ${plan.verdict.ok ? '✅ within policy' : '⚠️ outside policy'} — total risk ${bandGlyph(plan.risk.band)} **${totalRiskText(plan)}**`, '', ...author);
  if (rb.description) out.push(block(rb.description), '');

  const preflight = preflightLines(plan);
  if (rb.state.length || preflight.length || live) {
    section('Current state and preflight');
    if (rb.state.length) out.push('**State at analysis time** (as written in the runbook, not measured now):', '', ...fenced(rb.state.map(redact)), '');
    if (preflight.length) {
      const checks = preflight.map((c) => `- **${inline(c.label)}**${c.what ? ` — ${c.prose ? inline(c.what) : code(c.what)}` : ''}`);
      out.push('**Checked before anything changes (preflight):**', '', ...checks, '');
    }
    if (live) {
      const results = live.map((r) => `- ${r.ok ? '✅' : '❌'} ${inline(r.label)}${r.detail ? ` — ${inline(r.detail)}` : ''}`);
      out.push('**Preflight against the live system** (`plan --check`, run just now):', '', ...(results.length ? results : ['- no checks']), '');
    }
  }

  section('Analysis of each change');
  for (const c of plan.changes) out.push(...changeAnalysis(c, { inline, code, list }));

  const fleet = plan.fleet;
  // A runbook without hosts keeps the report it always had.
  const hostCells = (c: PlannedChange) => (fleet ? [cell(hostsCell(plan, c)), exposureCell(c)] : []);
  section(
    'Risk table',
    markdownTable(
      ['№', 'Change', 'Risk', ...(fleet ? ['Hosts', 'Risk × hosts'] : []), 'Impact', 'Rollback', 'Verified by'],
      plan.changes.map((c) => [String(c.number), cell(c.change.title), riskText(c.change.risk, c.band), ...hostCells(c), cell(c.change.impact ?? '—'), cell(rollbackCell(c)), cell(verifiedBy(c))]),
    ),
    '',
    `**Total risk:** ${bandGlyph(plan.risk.band)} ${totalRiskText(plan)} (${plan.risk.band})`,
    '',
    `**Policy:** ${plan.verdict.text}`,
    '',
  );

  if (fleet) {
    const batches = batchLines(plan, fleet).map((b, i) => `${i + 1}. ${code(b.hosts)}${b.canary ? ' (canary)' : ''}`);
    const hostless = hostlessChanges(plan).map((c) => `- ⚠️ ${inline(noHostsLine(plan, c))}.`);
    section(
      'Rollout',
      `${inline(rolloutSummary(fleet))}. Exposure (risk × hosts): **${totalExposure(plan)}**.`,
      '',
      ...(batches.length ? batches : ['No host is targeted.']),
      '',
      ...(fleet.sshConfig ? [`ssh config: ${code(fleet.sshConfig)}`, ''] : []),
      ...(hostless.length ? [...hostless, ''] : []),
    );
  }

  const checks = plan.changes.flatMap((c) => c.verify.map((s) => `- after ${c.number} (${c.change.id}): ${inline(s.label)}${s.retries ? ` (retries ${s.retries})` : ''}`));
  if (checks.length) section('Checks', ...checks, '');

  const then = (c: PlannedChange) => (c.verify.length ? `, then verify (${c.verify.length} check${c.verify.length === 1 ? '' : 's'})` : ' (no verify steps)');
  const order = [
    plan.checkpoint ? `Checkpoint: commit ${inline(plan.checkpoint.dir)} (${code(plan.checkpoint.message)})` : 'No checkpoint',
    ...plan.changes.map((c) => `Apply ${c.number}. ${inline(c.change.title)}${c.targets ? ` on ${inline(hostsCell(plan, c))}` : ''}${then(c)}`),
  ];
  section('Apply plan', order.map((s, i) => `${i + 1}. ${s}`).join('\n'), '', `On failure (${rb.policy.onFailure}): ${ON_FAILURE[rb.policy.onFailure]}.`, '');

  if (rb.troubleshooting.length) {
    section('Problems and fixes');
    rb.troubleshooting.forEach((p, i) => out.push(`### Problem ${i + 1}: ${inline(p.title)}`, '', ...(p.symptom ? [`**Symptom:** ${block(p.symptom)}`, ''] : []), ...(p.fix ? [`**Fix:** ${block(p.fix)}`, ''] : [])));
  }
  if (rb.expected.length) {
    section('Expected results', markdownTable(['Metric', 'Before', 'After', 'Gain'], rb.expected.map((e) => [e.metric, e.before ?? '', e.after ?? '', e.gain ?? ''].map(cell))), '');
  }
  section('Verdict', policy, '', ...author);
  return out.join('\n').trimEnd() + '\n';
}

function changeAnalysis(c: PlannedChange, md: { inline: (t: string) => string; code: (t: string) => string; list: (items: string[]) => string }): string[] {
  const ch = c.change;
  const out = [`### ${c.number}. ${md.inline(ch.title)}`, '', `**Risk:** ${riskText(ch.risk, c.band)} · **Impact:** ${md.inline(ch.impact ?? '—')} · **Rollback time:** ${md.inline(ch.rollbackTime ?? '—')}`, ''];
  if (c.targets) out.push(`**Runs on:** ${md.inline(ch.on.join(', '))} — ${c.targets.length ? c.targets.map((t) => md.code(t.host)).join(', ') : 'no hosts'}${c.targets.length > 1 ? ` (steps below as for ${md.code(c.targets[0]!.host)})` : ''}`, '');
  const part = (title: string, items: string[]) => {
    if (items.length) out.push(`**${title}:**`, '', md.list(items), '');
  };
  part('What it does', ch.does);
  part(
    'What can break',
    ch.breaks.map((b) => `${b.what}${b.probability ? ` (probability ${b.probability})` : ''}${b.fix ? ` — fix: ${b.fix}` : ''}`),
  );
  part('Protections', ch.protections);
  part('Benefits', ch.benefits);
  const steps = [...c.apply.map((s) => `- apply: ${md.code(s.label)}`), ...c.verify.map((s) => `- verify: ${md.code(s.label)}`)];
  out.push('**Steps:**', '', ...steps, '');
  const rollback = c.irreversible !== undefined ? `⚠️ **cannot be undone:** ${md.inline(c.irreversible)}` : c.rollback ? c.rollback.map((s) => md.code(s.label)).join(', ') : 'automatic (inverse of each apply step, in reverse order)';
  out.push(`**Rollback:** ${rollback}`, '');
  return out;
}
