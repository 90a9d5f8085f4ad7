import { isAbsolute, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedStep } from '../model/runbook.js';
import { formatMs } from '../model/units.js';
import { StepFailedError, type Phase, type StepContext, type StepOutcome } from '../steps/contract.js';
import { stepType } from '../steps/registry.js';
import type { StepFailure } from './events.js';

export const DEFAULT_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_INTERVAL_MS = 1000;

export interface StepEnvironment {
  runbookDir: string;
  env: NodeJS.ProcessEnv;
  recorded: StepContext['recorded'];
  output: (chunk: string) => void;
  /** `runbook rollback --force`. */
  force?: boolean;
}

export function stepTimeout(step: ResolvedStep): number {
  return step.timeout ?? stepType(step.type)?.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
}

/** Builds the context a step runs in; `signal` aborts on timeout or on the parent's abort. */
export function stepContext(step: ResolvedStep, phase: Phase, base: StepEnvironment, signal: AbortSignal): StepContext {
  const cwd = step.cwd === undefined ? base.runbookDir : isAbsolute(step.cwd) ? step.cwd : resolve(base.runbookDir, step.cwd);
  return {
    phase,
    cwd,
    runbookDir: base.runbookDir,
    env: step.env ? { ...base.env, ...step.env } : base.env,
    signal,
    timeoutMs: stepTimeout(step),
    output: base.output,
    recorded: base.recorded,
    force: base.force,
  };
}

/** Runs one attempt of a step under its timeout. Throws StepFailedError. */
export async function runOnce(step: ResolvedStep, phase: Phase, base: StepEnvironment, parent: AbortSignal): Promise<StepOutcome> {
  const def = stepType(step.type);
  if (!def) throw new StepFailedError(`unknown step type "${step.type}"`);
  const timeoutMs = stepTimeout(step);
  const controller = new AbortController();
  const onParent = () => controller.abort(parent.reason);
  if (parent.aborted) onParent();
  else parent.addEventListener('abort', onParent, { once: true });
  const timer = setTimeout(() => controller.abort(new Error(`timed out after ${formatMs(timeoutMs)}`)), timeoutMs);
  try {
    return await def.run(step.params as never, stepContext(step, phase, base, controller.signal));
  } catch (error) {
    if (error instanceof StepFailedError) throw error;
    if (controller.signal.aborted) {
      const reason = controller.signal.reason instanceof Error ? controller.signal.reason.message : 'aborted';
      throw new StepFailedError(reason, { timedOut: /timed out/.test(reason) });
    }
    throw new StepFailedError((error as Error).message ?? String(error));
  } finally {
    clearTimeout(timer);
    parent.removeEventListener('abort', onParent);
  }
}

export function failureOf(error: unknown): StepFailure {
  if (error instanceof StepFailedError) {
    return { message: error.message, command: error.command, exitCode: error.exitCode, outputTail: error.outputTail, timedOut: error.timedOut || undefined };
  }
  return { message: error instanceof Error ? error.message : String(error) };
}

export interface AttemptHooks {
  started(attempt: number): void | Promise<void>;
  finished(attempt: number, result: { ok: true; outcome: StepOutcome; ms: number } | { ok: false; failure: StepFailure; ms: number }): void | Promise<void>;
}

/**
 * Runs a step with its retries: `settle` before the first try, `interval` between tries,
 * and `passes` consecutive successes required. Returns the last outcome or throws the last
 * failure. An abort of `parent` stops at once.
 */
export async function runWithRetries(step: ResolvedStep, phase: Phase, base: StepEnvironment, parent: AbortSignal, hooks: AttemptHooks): Promise<StepOutcome> {
  const retries = step.retries ?? 0;
  const passes = step.passes ?? 1;
  const interval = step.interval ?? DEFAULT_INTERVAL_MS;
  if (step.settle) await abortableSleep(step.settle, parent);
  let streak = 0;
  let failures = 0;
  for (let attempt = 1; ; attempt++) {
    await hooks.started(attempt);
    const start = performance.now();
    try {
      const outcome = await runOnce(step, phase, base, parent);
      await hooks.finished(attempt, { ok: true, outcome, ms: performance.now() - start });
      streak++;
      if (streak >= passes) return outcome;
    } catch (error) {
      await hooks.finished(attempt, { ok: false, failure: failureOf(error), ms: performance.now() - start });
      streak = 0;
      failures++;
      if (parent.aborted || failures > retries) throw error;
    }
    await abortableSleep(interval, parent);
  }
}

async function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    throw new StepFailedError(signal.reason instanceof Error ? signal.reason.message : 'interrupted');
  }
}
