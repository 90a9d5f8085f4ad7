import { dirname } from 'node:path';
import type { EventListener, StepFailure } from '../model/events.js';
import type { Plan } from '../model/plan.js';
import { createRedactor } from '../secrets/redact.js';
import { checkCheckpoint } from './checkpoint.js';
import { Emitter } from './emitter.js';
import { failureOf, retryFields, runWithRetries, type StepEnvironment } from './step-runner.js';
import { localTarget } from '../steps/kit/local-target.js';

/** A preflight check that failed: its name and why (with the command, exit code and output tail when it ran one). */
export interface PreflightFailure {
  step: string;
  failure: StepFailure;
}

/** Runs every preflight check (read-only; all of them, even after a failure). Returns the failures. */
export async function runPreflight(plan: Plan, emitter: Emitter, base: Omit<StepEnvironment, 'output'>, signal: AbortSignal, more?: () => Promise<PreflightFailure[]>): Promise<PreflightFailure[]> {
  const failures: PreflightFailure[] = [];
  for (const [index, step] of plan.preflight.entries()) {
    if (signal.aborted) break;
    const ref = { phase: 'preflight' as const, index, label: step.label };
    const env: StepEnvironment = { ...base, output: (chunk) => void emitter.emit({ type: 'step.output', ...ref, chunk }) };
    try {
      await runWithRetries(step, 'preflight', env, signal, {
        started: (attempt) => emitter.emit({ type: 'step.started', ...ref, attempt }),
        finished: (attempt, r) =>
          emitter.emit(r.ok ? { type: 'step.finished', ...ref, attempt, ok: true, durationMs: r.ms, detail: r.outcome.detail } : { type: 'step.finished', ...ref, attempt, ok: false, durationMs: r.ms, failure: r.failure, ...retryFields(r) }),
      });
    } catch (error) {
      failures.push({ step: step.label, failure: failureOf(error) });
    }
  }
  if (!signal.aborted) failures.push(...(await checkCheckpoint(plan, emitter, base.env)));
  if (!signal.aborted && more) failures.push(...(await more()));
  // Not fsynced by itself: the next durable record (a change's start, the run's end) carries it.
  await emitter.emit({ type: 'preflight.finished', ok: failures.length === 0, failures: failures.map((f) => `${f.step}: ${f.failure.message}`) });
  return failures;
}

/** `plan --check` and `apply --dry-run`: the preflight alone, no journal. */
export async function runPreflightOnly(plan: Plan, listeners: EventListener[], signal = new AbortController().signal): Promise<boolean> {
  const emitter = new Emitter(undefined, listeners, createRedactor(plan.secretValues));
  const failures = await runPreflight(plan, emitter, { runbookDir: dirname(plan.runbook.file), target: localTarget(dirname(plan.runbook.file)), workdir: dirname(plan.runbook.file), env: process.env, recorded: {} }, signal);
  return failures.length === 0;
}
