import { setTimeout as sleep } from 'node:timers/promises';
import type { Phase, StepFailure } from '../model/events.js';
import type { ResolvedStep } from '../model/runbook.js';
import { formatMs } from '../model/units.js';
import { StepFailedError, type StepContext, type StepOutcome } from '../steps/contract.js';
import type { Target } from '../steps/kit/target.js';
import { stepType } from '../steps/registry.js';

export const DEFAULT_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_INTERVAL_MS = 1000;
/**
 * How long a step may take to stop once aborted (timeout or interrupt) before the engine stops
 * waiting for it. A command's process group gets SIGTERM, then SIGKILL 2 s later: this covers that.
 */
export const ABANDON_AFTER_MS = 3000;

export interface StepEnvironment {
  runbookDir: string;
  /** Where steps act; `workdir` is its directory for steps without `cwd` (the runbook's here, the login directory on a host). */
  target: Target;
  workdir: string;
  env: NodeJS.ProcessEnv;
  recorded: StepContext['recorded'];
  output: (chunk: string) => void;
  /** `runbook rollback --force`. */
  force?: boolean;
  /** Told the pid of every process a step starts (journaled for orphan clean-up). */
  spawned?: (pid: number, phase: Phase, step: ResolvedStep) => void;
}

/** The target as one step sees it: every process it starts is reported to `spawned`. */
function reportingTarget(base: StepEnvironment, phase: Phase, step: ResolvedStep): Target {
  const spawned = base.spawned;
  if (!spawned) return base.target;
  // Derived, not copied: a target may be a class instance whose methods live on its prototype.
  return Object.assign(Object.create(base.target) as Target, {
    exec: (req: Parameters<Target['exec']>[0]) =>
      base.target.exec({
        ...req,
        onSpawn: (pid) => {
          req.onSpawn?.(pid);
          spawned(pid, phase, step);
        },
      }),
  });
}

export function stepTimeout(step: ResolvedStep): number {
  return step.timeout ?? stepType(step.type)?.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
}

/** Builds the context a step runs in; `signal` aborts on timeout or on the parent's abort. */
export function stepContext(step: ResolvedStep, phase: Phase, base: StepEnvironment, signal: AbortSignal): StepContext {
  const cwd = step.cwd === undefined ? base.workdir : base.target.resolve(base.workdir, step.cwd);
  return {
    phase,
    target: reportingTarget(base, phase, step),
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

export function abortReason(signal: AbortSignal): string {
  return signal.reason instanceof Error ? signal.reason.message : 'interrupted';
}

/**
 * Runs `work` (a step, or the snapshot taken before it) under the step's timeout and the
 * parent's abort; throws StepFailedError. Work that has not stopped ABANDON_AFTER_MS after
 * being aborted (a read stuck on a FIFO, a library that ignores its signal) is abandoned: the
 * run counts it failed and goes on to roll back instead of hanging.
 */
export async function withinLimits<T>(step: ResolvedStep, parent: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  if (parent.aborted) throw new StepFailedError(abortReason(parent));
  const timeoutMs = stepTimeout(step);
  const controller = new AbortController();
  const onParent = () => controller.abort(parent.reason);
  parent.addEventListener('abort', onParent, { once: true });
  const timer = setTimeout(() => controller.abort(new Error(`timed out after ${formatMs(timeoutMs)}`)), timeoutMs);
  let abandonTimer: NodeJS.Timeout | undefined;
  const abandoned = new Promise<never>((_, reject) => {
    controller.signal.addEventListener(
      'abort',
      () => {
        abandonTimer = setTimeout(() => {
          const reason = abortReason(controller.signal);
          reject(new StepFailedError(`${reason}; the step did not stop within ${formatMs(ABANDON_AFTER_MS)} of that, so runbook stopped waiting for it (it may still be running)`, { timedOut: /timed out/.test(reason) }));
        }, ABANDON_AFTER_MS);
      },
      { once: true },
    );
  });
  const running = Promise.resolve().then(() => work(controller.signal));
  running.catch(() => undefined); // once abandoned, its late failure is of no interest
  try {
    return await Promise.race([running, abandoned]);
  } catch (error) {
    if (error instanceof StepFailedError) throw error;
    if (controller.signal.aborted) {
      const reason = abortReason(controller.signal);
      throw new StepFailedError(reason, { timedOut: /timed out/.test(reason) });
    }
    throw new StepFailedError((error as Error).message ?? String(error));
  } finally {
    clearTimeout(timer);
    clearTimeout(abandonTimer);
    parent.removeEventListener('abort', onParent);
  }
}

/** Runs one attempt of a step under its timeout. Throws StepFailedError. */
export async function runOnce(step: ResolvedStep, phase: Phase, base: StepEnvironment, parent: AbortSignal): Promise<StepOutcome> {
  const def = stepType(step.type);
  if (!def) throw new StepFailedError(`unknown step type "${step.type}"`);
  return withinLimits(step, parent, (signal) => def.run(step.params as never, stepContext(step, phase, base, signal)));
}

export function failureOf(error: unknown): StepFailure {
  if (error instanceof StepFailedError) {
    return { message: error.message, command: error.command, exitCode: error.exitCode, outputTail: error.outputTail, timedOut: error.timedOut || undefined };
  }
  return { message: error instanceof Error ? error.message : String(error) };
}

export interface AttemptHooks {
  started(attempt: number): void | Promise<void>;
  /** A failure with `retry` set is not the verdict: another attempt follows (`of`: how many there can be, when that is known). */
  finished(attempt: number, result: { ok: true; outcome: StepOutcome; ms: number } | { ok: false; failure: StepFailure; ms: number; retry?: { of?: number } }): void | Promise<void>;
}

/** How many attempts a step can take, when that is fixed (one pass required): 1 + retries. */
export function maxAttempts(step: ResolvedStep): number | undefined {
  return (step.passes ?? 1) === 1 ? (step.retries ?? 0) + 1 : undefined;
}

/** The step.finished fields of a failed attempt that another attempt follows. */
export function retryFields(result: { retry?: { of?: number } }): { retrying?: true; attempts?: number } {
  if (!result.retry) return {};
  return { retrying: true, ...(result.retry.of !== undefined ? { attempts: result.retry.of } : {}) };
}

/**
 * Runs a step with its retries: `settle` before the first try, `interval` between tries,
 * and `passes` consecutive successes required. Returns the last outcome or throws the last
 * failure. An abort of `parent` stops at once (the running attempt is killed); an abort of
 * `stop` lets the running attempt finish and starts no other.
 */
export async function runWithRetries(step: ResolvedStep, phase: Phase, base: StepEnvironment, parent: AbortSignal, hooks: AttemptHooks, stop?: AbortSignal): Promise<StepOutcome> {
  const retries = step.retries ?? 0;
  const passes = step.passes ?? 1;
  const interval = step.interval ?? DEFAULT_INTERVAL_MS;
  const waits = stop ? AbortSignal.any([parent, stop]) : parent;
  if (step.settle) await abortableSleep(step.settle, waits);
  let streak = 0;
  let failures = 0;
  for (let attempt = 1; ; attempt++) {
    if (waits.aborted) throw new StepFailedError(abortReason(waits));
    await hooks.started(attempt);
    const start = performance.now();
    try {
      const outcome = await runOnce(step, phase, base, parent);
      await hooks.finished(attempt, { ok: true, outcome, ms: performance.now() - start });
      streak++;
      if (streak >= passes) return outcome;
    } catch (error) {
      streak = 0;
      failures++;
      const last = waits.aborted || failures > retries;
      await hooks.finished(attempt, { ok: false, failure: failureOf(error), ms: performance.now() - start, ...(last ? {} : { retry: { of: maxAttempts(step) } }) });
      if (last) throw error;
    }
    await abortableSleep(interval, waits);
  }
}

/** Waits `ms`, or until `signal` aborts (then throws StepFailedError with its reason). */
export async function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw new StepFailedError(abortReason(signal));
  if (ms <= 0) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    throw new StepFailedError(abortReason(signal));
  }
}
