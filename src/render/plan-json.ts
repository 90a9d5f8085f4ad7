import type { Plan } from '../model/plan.js';
import { redactDeep, type Redactor } from '../engine/redact.js';

/** `plan --format json`: a stable document (formatVersion 1), documented in docs/runbook-format.md. */
export function planJson(plan: Plan, redact: Redactor): string {
  const doc = {
    formatVersion: 1,
    runbook: { name: plan.runbook.name, title: plan.runbook.title, file: plan.runbook.file },
    policy: plan.runbook.policy,
    risk: plan.risk,
    verdict: plan.verdict,
    checkpoint: plan.checkpoint ?? null,
    preflight: plan.preflight.map((s) => ({ type: s.type, label: s.label })),
    changes: plan.changes.map((c) => ({
      number: c.number,
      id: c.change.id,
      title: c.change.title,
      risk: c.change.risk,
      band: c.band,
      impact: c.change.impact ?? null,
      rollbackTime: c.change.rollbackTime ?? null,
      checksum: c.checksum,
      needsConfirm: c.needsConfirm,
      needsAcceptRisk: c.needsAcceptRisk,
      apply: c.apply.map((s) => ({ type: s.type, label: s.label })),
      verify: c.verify.map((s) => ({ type: s.type, label: s.label })),
      rollback: c.irreversible !== undefined ? 'none' : c.rollback ? c.rollback.map((s) => ({ type: s.type, label: s.label })) : 'inverse',
      ...(c.irreversible !== undefined ? { irreversible: c.irreversible } : {}),
    })),
  };
  return JSON.stringify(redactDeep(doc, redact), null, 2) + '\n';
}
