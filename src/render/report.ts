import { changeKey, statusText, undoSteps, type ChangeState, type RunState } from '../history/applied-state.js';
import type { RunOutcome, StepFailure } from '../model/events.js';

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
  failure?: { changeId?: string; phase: string; step?: string; failure: StepFailure; host?: string };
  rollbackFailure?: { changeId: string; failure: StepFailure; host?: string };
  /** Every preflight check that failed. */
  preflightFailures?: { step: string; failure: StepFailure }[];
  /** The rollback stopped because of an interrupt (not because an undo step failed). */
  rollbackInterrupted?: boolean;
  /** The exact command that undoes what is left (same state and vars options as this run). */
  rollbackCommand: string;
  /** `rollback` when the report closes a `runbook rollback` rather than an apply. */
  command?: 'apply' | 'rollback';
  /** Other runs of this runbook/environment that still have changes applied: the system is not as before while there are any. */
  othersApplied?: string[];
  /** Hosts that failed in a rollout, and why. */
  failedHosts?: Map<string, string>;
}

/** A rollout: one line per host, in rollout order — what it holds now. */
function hostLines(state: RunState, failed: Map<string, string> | undefined): string[] {
  if (!state.fleet) return [];
  const lines = ['hosts:'];
  const width = Math.max(...state.fleet.hosts.map((h) => h.length));
  for (const host of state.fleet.hosts) {
    const mine = state.changes.filter((c) => c.host === host);
    const why = failed?.get(host);
    const left = mine.filter((c) => c.status !== 'rolled-back');
    let text: string;
    if (mine.length === 0) text = why ? `✖ failed, nothing changed: ${why}` : '· not reached (nothing changed)';
    else if (left.length === 0) text = why ? `↩ rolled back (failed: ${why})` : '↩ rolled back';
    else if (left.every((c) => c.status === 'verified' || (c.status === 'applied' && c.noVerifySteps))) {
      // Like the `applied:` line: a change without verify steps was not verified, and says so.
      const verb = left.every((c) => c.status === 'verified') ? 'applied and verified' : 'applied';
      text = `✔ ${verb}: ${left.map((c) => `${c.id}${c.status === 'applied' ? ' (no verify steps)' : ''}`).join(', ')}`;
    }
    else text = `⚠ still applied: ${left.map((c) => `${c.id} (${statusText(c)})`).join(', ')}${why ? ` — failed: ${why}` : ''}`;
    lines.push(`  ${host.padEnd(width)}  ${text}`);
  }
  return lines;
}

/** How taking the git checkpoint back went, once a rollback left nothing of the run applied. */
function checkpointLines(state: RunState): string[] {
  const cp = state.checkpointCommit;
  if (!cp?.undone) return [];
  const undone = cp.commit ? ` (checkpoint commit ${cp.commit.slice(0, 12)} undone)` : '';
  if (cp.undone.restored) return [`git: ${cp.dir} is back at ${cp.head ? cp.head.slice(0, 12) : `no commit on ${cp.branch?.replace(/^refs\/heads\//, '')}`}, index and status as before the run${undone}`];
  return [
    cp.commit ? `⚠ git: the checkpoint commit ${cp.commit.slice(0, 12)} is kept in ${cp.dir}: ${cp.undone.reason}.` : `⚠ git: HEAD of ${cp.dir} is not as before the run: ${cp.undone.reason}.`,
    `  It holds the work that was uncommitted before the run. To put HEAD and the index back as before the run`,
    `  (this changes no file; anything committed since stays in the files as uncommitted changes):`,
    `  ${cp.undone.finish}`,
  ];
}

/** The first line: what happened, in the words of the outcome and of what is still applied. */
function headline(input: ReportInput, remaining: ChangeState[]): string {
  const { outcome, state } = input;
  if (outcome === 'rollback-failed' && input.rollbackInterrupted) return '🛑 ROLLBACK STOPPED by an interrupt — manual action needed';
  if (input.command === 'rollback') return outcome === 'rolled-back' ? '↩ rolled back' : HEADLINE[outcome];
  if (outcome === 'applied' && input.failedHosts?.size) {
    return `⚠ applied on every host but ${[...input.failedHosts.keys()].join(', ')}: ${input.failedHosts.size === 1 ? 'it' : 'they'} failed and ${input.failedHosts.size === 1 ? 'was' : 'were'} rolled back (within maxFailures)`;
  }
  if (outcome === 'applied') {
    const unchecked = state.changes.filter((c) => c.noVerifySteps).map((c) => c.id);
    if (unchecked.length === state.changes.length) return '✅ all changes applied (none has verify steps: nothing was verified)';
    if (unchecked.length) return `✅ all changes applied; verified all but ${unchecked.join(', ')} (no verify steps)`;
  }
  if (outcome === 'rolled-back' && remaining.length) {
    return '↩ a change failed; it was rolled back as the policy says (onFailure: rollback-change) — the changes applied before it stay applied';
  }
  return HEADLINE[outcome];
}

/** The final report: what was applied, what failed and why, what was rolled back, what remains. */
export function renderReport(input: ReportInput): string {
  const { state, outcome } = input;
  const remaining = state.changes.filter((c) => c.status !== 'rolled-back');
  const lines = ['', `${headline(input, remaining)} (run ${state.runId})`];
  const by = (pred: (c: ChangeState) => boolean) => state.changes.filter(pred).map((c) => `${c.number}. ${changeKey(c)}`);
  const applied = state.changes
    .filter((c) => c.status === 'verified' || (c.status === 'applied' && c.noVerifySteps === true))
    .map((c) => `${c.number}. ${changeKey(c)}${c.noVerifySteps ? ' (no verify steps)' : ''}`);
  const rolledBack = by((c) => c.status === 'rolled-back');
  if (applied.length) lines.push(`applied:      ${applied.join(', ')}`);
  if (input.failure) {
    const f = input.failure;
    lines.push(`failed:       ${f.changeId ? `${f.changeId}${f.host !== undefined ? ` on ${f.host}` : ''}, ` : ''}${f.phase}${f.step ? ` step "${f.step}"` : ''}`, ...failureLines(f.failure, '              '));
  }
  for (const [i, f] of (input.preflightFailures ?? []).entries()) {
    lines.push(`${i === 0 ? 'failed:       ' : '              '}preflight check "${f.step}"`, ...failureLines(f.failure, '                '));
  }
  if (rolledBack.length) lines.push(`rolled back:  ${rolledBack.join(', ')}`);
  if (input.rollbackFailure) lines.push(`rollback of ${input.rollbackFailure.changeId}${input.rollbackFailure.host !== undefined ? ` on ${input.rollbackFailure.host}` : ''} failed:`, ...failureLines(input.rollbackFailure.failure, '              '));
  if (outcome !== 'applied') {
    const gitKept = state.checkpointCommit?.undone?.restored === false ? ', except git HEAD (below)' : '';
    const others = input.othersApplied ?? [];
    lines.push(
      remaining.length
        ? `still applied: ${remaining.map((c) => `${c.number}. ${changeKey(c)} (${c.status === 'applied' && c.noVerifySteps ? 'no verify steps' : statusText(c)})`).join(', ')}`
        : others.length
          ? `still applied: nothing of this run${gitKept}; but run${others.length === 1 ? '' : 's'} ${others.join(', ')} still ${others.length === 1 ? 'has' : 'have'} changes applied (runbook rollback without --run undoes them, newest first)`
          : `still applied: nothing — the system is as before this run${gitKept}`,
    );
  }
  if (outcome === 'rollback-failed' && remaining.length && !input.rollbackInterrupted) {
    lines.push('to finish by hand, in this order:');
    for (const c of [...remaining].reverse()) {
      if (c.irreversible !== undefined) lines.push(`  ${c.id}: cannot be undone by runbook — ${c.irreversible}`);
      else for (const s of undoSteps(c)) lines.push(`  ${c.id}: ${s.label}`);
    }
  }
  lines.push(...hostLines(state, input.failedHosts));
  lines.push(...checkpointLines(state));
  if (remaining.length && outcome !== 'applied') {
    lines.push(
      outcome === 'rollback-failed' && input.rollbackInterrupted
        ? `to finish: ${input.rollbackCommand}   (it continues with what is left)`
        : outcome === 'rollback-failed' || outcome === 'interrupted'
          ? `or fix the cause above, then run: ${input.rollbackCommand}   (it continues with what is left)`
          : `to undo: ${input.rollbackCommand}`,
    );
  }
  return lines.join('\n') + '\n';
}
