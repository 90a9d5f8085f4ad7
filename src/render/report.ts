import { undoSteps, type ChangeState, type RunState } from '../engine/applied-state.js';
import type { RunOutcome, StepFailure } from '../engine/events.js';

function failureLines(f: StepFailure, indent = '  '): string[] {
  const lines = [`${indent}error:   ${f.message}`];
  if (f.command) lines.push(`${indent}command: ${f.command}`);
  if (f.exitCode !== undefined && f.exitCode !== null) lines.push(`${indent}exit:    ${f.exitCode}`);
  if (f.outputTail) lines.push(`${indent}output (last lines):`, ...f.outputTail.split('\n').slice(-15).map((l) => `${indent}  │ ${l}`));
  return lines;
}

const HEADLINE: Record<RunOutcome, string> = {
  applied: '✅ all changes applied and verified',
  'rolled-back': '↩ a change failed; everything this run applied was rolled back',
  stopped: '⏸ a change failed; stopped as the policy says (onFailure: stop) — nothing was rolled back',
  'rollback-failed': '🛑 ROLLBACK FAILED — manual action needed',
  interrupted: '⏹ interrupted',
  'dry-run': 'dry run',
  'preflight-failed': '✖ preflight failed — nothing was changed',
};

export interface ReportInput {
  state: RunState;
  outcome: RunOutcome;
  failure?: { changeId?: string; phase: string; step?: string; failure: StepFailure };
  rollbackFailure?: { changeId: string; failure: StepFailure };
  file: string;
  /** `rollback` when the report closes a `runbook rollback` rather than an apply. */
  command?: 'apply' | 'rollback';
}

/** The final report: what was applied, what failed and why, what was rolled back, what remains. */
export function renderReport(input: ReportInput): string {
  const { state, outcome } = input;
  const headline = input.command === 'rollback' ? (outcome === 'rolled-back' ? '↩ rolled back' : HEADLINE[outcome]) : HEADLINE[outcome];
  const lines = ['', `${headline} (run ${state.runId})`];
  const by = (pred: (c: ChangeState) => boolean) => state.changes.filter(pred).map((c) => `${c.number}. ${c.id}`);
  const verified = by((c) => c.status === 'verified');
  const rolledBack = by((c) => c.status === 'rolled-back');
  const remaining = state.changes.filter((c) => c.status !== 'rolled-back');
  if (verified.length) lines.push(`applied:      ${verified.join(', ')}`);
  if (input.failure) {
    const f = input.failure;
    lines.push(`failed:       ${f.changeId ? `${f.changeId}, ` : ''}${f.phase}${f.step ? ` step "${f.step}"` : ''}`, ...failureLines(f.failure, '              '));
  }
  if (rolledBack.length) lines.push(`rolled back:  ${rolledBack.join(', ')}`);
  if (input.rollbackFailure) lines.push(`rollback of ${input.rollbackFailure.changeId} failed:`, ...failureLines(input.rollbackFailure.failure, '              '));
  if (outcome !== 'applied') {
    lines.push(remaining.length ? `still applied: ${remaining.map((c) => `${c.number}. ${c.id} (${c.status})`).join(', ')}` : 'still applied: nothing — the system is as before this run');
  }
  if (outcome === 'rollback-failed' && remaining.length) {
    lines.push('to finish by hand, in this order:');
    for (const c of [...remaining].reverse()) {
      if (c.irreversible !== undefined) lines.push(`  ${c.id}: cannot be undone by runbook — ${c.irreversible}`);
      else for (const s of undoSteps(c)) lines.push(`  ${c.id}: ${s.label}`);
    }
  }
  if (remaining.length && outcome !== 'applied') {
    lines.push(
      outcome === 'rollback-failed' || outcome === 'interrupted'
        ? `or fix the cause above, then run: runbook rollback ${input.file}   (it continues with what is left)`
        : `to undo: runbook rollback ${input.file}`,
    );
  }
  return lines.join('\n') + '\n';
}
