import { undoKind, type Plan, type PlannedChange } from '../../model/plan.js';
import type { LastRehearsal } from '../../history/rehearsals.js';
import type { ResolvedStep } from '../../model/runbook.js';
import type { Redactor } from '../../secrets/redact.js';
import { stepType } from '../../steps/registry.js';
import { hostCount } from '../text/fleet-text.js';
import { verifiedBy } from '../text/risk.js';
import { stepWhat } from '../text/step-text.js';
import type { LiveCheck } from './plan-markdown.js';

const step = (s: ResolvedStep) => ({ type: s.type, label: s.label });

/** The change's last rollback rehearsal from history, or null (never rehearsed, or no history read). */
function lastRehearsal(c: PlannedChange, rehearsals: Map<string, LastRehearsal> | undefined) {
  const r = rehearsals?.get(c.change.id);
  return r ? { result: r.result, at: r.at, runId: r.runId, sameDefinition: r.checksum === c.checksum, message: r.message ?? null } : null;
}

/** Explicit rollback steps, or — automatic — the inverse of each apply step, in the order they run; `none` (the reason) for a change declared irreversible. */
function rollback(c: Pick<PlannedChange, 'apply' | 'rollback' | 'irreversible'>) {
  const how = undoKind(c);
  const inverses = (steps: ResolvedStep[]) => [...steps].reverse().map((s) => ({ type: s.type, label: `undo: ${s.label}` }));
  if (c.irreversible !== undefined) return { automatic: false, how, none: c.irreversible, steps: [] };
  // `undo: apply` stands for the inverses of the apply steps that have one.
  if (c.rollback) return { automatic: false, how, steps: c.rollback.flatMap((s) => (s.type === 'undo' ? inverses(c.apply.filter((a) => stepType(a.type)?.inverse !== undefined)) : [step(s)])) };
  return { automatic: true, how, steps: inverses(c.apply) };
}

/** One change of the document. */
function changeDocument(c: PlannedChange, rehearsals: Map<string, LastRehearsal> | undefined) {
  return {
    number: c.number,
    id: c.change.id,
    title: c.change.title,
    risk: c.change.risk,
    band: c.band,
    impact: c.change.impact ?? null,
    rollbackTime: c.change.rollbackTime ?? null,
    verifiedBy: c.change.verifiedBy ?? (c.verify.length ? verifiedBy(c) : null),
    checksum: c.checksum,
    needsConfirm: c.needsConfirm,
    needsAcceptRisk: c.needsAcceptRisk,
    does: c.change.does,
    breaks: c.change.breaks.map((b) => ({ what: b.what, probability: b.probability ?? null, fix: b.fix ?? null })),
    protections: c.change.protections,
    benefits: c.change.benefits,
    apply: c.apply.map(step),
    verify: c.verify.map(step),
    rollback: rollback(c),
    rehearse: (c.rehearse ?? []).map(step),
    lastRehearsal: lastRehearsal(c, rehearsals),
    ...(c.irreversible !== undefined ? { irreversible: c.irreversible } : {}),
    // Changes on hosts only: a runbook without hosts keeps the document it always had.
    ...(c.targets
      ? {
          on: c.change.on,
          exposure: c.change.risk * hostCount(c),
          targets: c.targets.map((t) => ({ host: t.host, checksum: t.checksum, apply: t.apply.map(step), verify: t.verify.map(step), rollback: rollback({ ...t, irreversible: c.irreversible }) })),
        }
      : {}),
  };
}

/**
 * `plan --format json`: a stable document, documented in docs/runbook-format.md. Version 2:
 * `rollback` is always an object (it was a list or the string "inverse"); everything else of
 * version 1 is unchanged, and fields were added.
 */
export function planJson(plan: Plan, redact: Redactor, live?: LiveCheck[], rehearsals?: Map<string, LastRehearsal>): string {
  return [...planJsonPieces(plan, redact, live, rehearsals)].join('');
}

/**
 * The text of `planJson` in pieces, one change at a time: exactly `JSON.stringify(document,
 * redacting, 2)`, without the whole document and its text in memory at once (a plan of 10,000
 * changes is ~10 MB of JSON).
 */
export function* planJsonPieces(plan: Plan, redact: Redactor, live?: LiveCheck[], rehearsals?: Map<string, LastRehearsal>): Generator<string> {
  const rb = plan.runbook;
  // Redacts each string as it is written (the document holds no opaque encodings: see OPAQUE_KEYS), without copying the document first.
  const text = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? redact(v) : v), 2);
  const head = {
    formatVersion: 2,
    runbook: { name: rb.name, title: rb.title, file: rb.file, description: rb.description ?? null },
    policy: rb.policy,
    risk: plan.risk,
    verdict: plan.verdict,
    authorVerdict: rb.verdict ?? null,
    state: rb.state,
    checkpoint: plan.checkpoint ?? null,
    preflight: plan.preflight.map((s) => ({ ...step(s), checks: stepWhat(s) ?? s.label })),
    ...(live ? { check: { ok: live.every((r) => r.ok), results: live.map((r) => ({ label: r.label, ok: r.ok, detail: r.detail ?? null })) } } : {}),
  };
  const tail = {
    ...(plan.fleet
      ? {
          fleet: {
            hosts: plan.fleet.hosts,
            batches: plan.fleet.batches,
            maxFailures: plan.fleet.maxFailures,
            pause: plan.fleet.pause,
            sshConfig: plan.fleet.sshConfig ?? null,
            exposure: plan.changes.reduce((sum, c) => sum + c.change.risk * hostCount(c), 0),
          },
        }
      : {}),
    troubleshooting: rb.troubleshooting.map((p) => ({ title: p.title, symptom: p.symptom ?? null, fix: p.fix ?? null })),
    expected: rb.expected.map((e) => ({ metric: e.metric, before: e.before ?? null, after: e.after ?? null, gain: e.gain ?? null })),
  };
  // The keys before `changes` without the closing "\n}", then the list one change at a time at its depth (2), then the keys after it without the opening "{".
  yield text(head).slice(0, -2) + ',\n  "changes": [';
  for (const [i, c] of plan.changes.entries()) yield (i === 0 ? '\n    ' : ',\n    ') + text(changeDocument(c, rehearsals)).replaceAll('\n', '\n    ');
  yield (plan.changes.length > 0 ? '\n  ]' : ']') + ',' + text(tail).slice(1) + '\n';
}
