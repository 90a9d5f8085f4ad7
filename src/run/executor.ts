import { hostname, userInfo } from 'node:os';
import { dirname } from 'node:path';
import { foldRun, type ChangeState, type RunState } from '../history/applied-state.js';
import type { Phase, EventListener, RunOutcome, StepFailure } from '../model/events.js';
import type { Plan, PlannedChange } from '../model/plan.js';
import type { ResolvedStep } from '../model/runbook.js';
import { selectChanges } from '../plan/select.js';
import { createRedactor } from '../secrets/redact.js';
import { protectSecrets, secretValues, type SecretValues } from '../secrets/secrets.js';
import type { RunJournal } from '../state/contract.js';
import type { StepContext } from '../steps/contract.js';
import { stepType } from '../steps/registry.js';
import { takeRunCheckpoint, undoRunCheckpoint } from './checkpoint.js';
import { Emitter } from './emitter.js';
import { runPreflight, type PreflightFailure } from './preflight.js';
import { rehearseChange } from './rehearse.js';
import { rollbackChanges, type RollbackSignals } from './rollback.js';
import { abortableSleep, abortReason, failureOf, retryFields, runWithRetries, stepContext, withinLimits, type StepEnvironment } from './step-runner.js';
import { localTarget } from '../steps/kit/local-target.js';

export interface ExecuteOptions {
  runId: string;
  journal: RunJournal;
  listeners: EventListener[];
  /** Aborted on the first interrupt: the running step is killed, then rollback per policy. */
  signal: AbortSignal;
  /** Later interrupts: stop the rollback after its running step, then kill that step too. */
  rollbackSignals: RollbackSignals;
  env: NodeJS.ProcessEnv;
  only?: string;
  from?: string;
  command: string;
  /** State-aware apply: selected changes left out because an earlier run applied them as they are (journaled in run.started). */
  skipped?: { id: string; runId: string; at?: string }[];
  /** `--reapply`: changes still applied by an earlier run that this run applies again, by id (journaled in change.started). */
  replaces?: Record<string, { runId: string; checksum: string; at?: string }>;
  /** `--rehearse`: each change is applied, verified, rolled back, its undo proven, then applied again (run/rehearse.ts). */
  rehearse?: boolean;
}

export interface ExecuteResult {
  exitCode: number;
  outcome: RunOutcome;
  state: RunState;
  failure?: { changeId?: string; phase: Phase; step?: string; failure: StepFailure };
  rollbackFailure?: { changeId: string; failure: StepFailure };
  /** Every preflight check that failed (nothing was changed). */
  preflightFailures?: PreflightFailure[];
  /** The rollback was stopped by an interrupt before it finished. */
  rollbackInterrupted?: boolean;
  /** Renderers that failed and were dropped (the run itself went on). */
  displayErrors: string[];
}

class ChangeFailed extends Error {
  constructor(
    readonly phase: Phase,
    readonly step: string,
    readonly failure: StepFailure,
  ) {
    super(failure.message);
  }
}

/**
 * Applies a plan: preflight → checkpoint → for each change apply → verify → (watch) and,
 * on failure, rollback per policy. Everything it does is announced as events; the journal
 * gets each one before the work it announces starts.
 */
export async function execute(plan: Plan, options: ExecuteOptions): Promise<ExecuteResult> {
  const started = performance.now();
  const secrets: SecretValues = secretValues(plan.runbook.secrets, plan.vars, options.env);
  const redact = createRedactor([...plan.secretValues, ...secrets.values()]);
  const emitter = new Emitter(options.journal, options.listeners, redact);
  const recorded: StepContext['recorded'] = {};
  let current: { phase: Phase; changeId?: string; index: number; label: string } = { phase: 'preflight', index: 0, label: '' };
  const base: StepEnvironment = {
    runbookDir: dirname(plan.runbook.file),
    target: localTarget(dirname(plan.runbook.file)),
    workdir: dirname(plan.runbook.file),
    env: options.env,
    recorded,
    output: (chunk) => void emitter.emit({ type: 'step.output', ...current, chunk }),
  };
  const selected = selectChanges(plan, options.only, options.from);

  await emitter.emit(
    {
      type: 'run.started',
      runId: options.runId,
      runbook: plan.runbook.name,
      file: plan.runbook.file,
      changes: selected.map((c) => ({ id: c.change.id, title: c.change.title, risk: c.change.risk, checksum: c.checksum })),
      host: hostname(),
      pid: process.pid,
      user: userInfo().username,
      dryRun: false,
      secrets: plan.runbook.secrets,
      ...(options.skipped?.length ? { skipped: options.skipped } : {}),
    },
    true,
  );

  const finish = async (outcome: RunOutcome, exitCode: number, extra: Partial<ExecuteResult> = {}): Promise<ExecuteResult> => {
    const interim = foldRun(options.runId, emitter.events);
    const remaining = interim.changes.filter((c) => c.status !== 'rolled-back').map((c) => c.id);
    await emitter.emit({ type: 'run.finished', outcome, exitCode, remaining, durationMs: performance.now() - started }, true);
    return { exitCode, outcome, state: foldRun(options.runId, emitter.events), displayErrors: emitter.listenerErrors.map((e) => e.message), ...extra };
  };

  const runSteps = async (steps: ResolvedStep[], phase: Phase, changeId: string | undefined, journalInverse: boolean) => {
    for (const [index, step] of steps.entries()) {
      current = { phase, changeId, index, label: step.label };
      const ref = current;
      let inverse: ResolvedStep[] | undefined;
      const def = stepType(step.type);
      if (options.signal.aborted) throw new ChangeFailed(phase, step.label, { message: abortReason(options.signal) });
      if (journalInverse && def?.inverse) {
        const snapshot = def.inverse;
        try {
          // The snapshot is bound by the step's timeout and by interrupts, like the step itself.
          inverse = protectSecrets(await withinLimits(step, options.signal, (signal) => snapshot(step.params as never, stepContext(step, phase, base, signal))), secrets);
        } catch (error) {
          throw new ChangeFailed(phase, step.label, { message: `cannot snapshot before changing: ${failureOf(error).message}` });
        }
      }
      try {
        await runWithRetries(step, phase, base, options.signal, {
          started: (attempt) => emitter.emit({ type: 'step.started', ...ref, attempt, inverse: attempt === 1 ? inverse : undefined }, attempt === 1 && inverse !== undefined),
          finished: (attempt, r) =>
            emitter.emit(
              r.ok
                ? { type: 'step.finished', ...ref, attempt, ok: true, durationMs: r.ms, detail: r.outcome.detail, data: r.outcome.data }
                : { type: 'step.finished', ...ref, attempt, ok: false, durationMs: r.ms, failure: r.failure, ...retryFields(r) },
            ),
        });
      } catch (error) {
        throw new ChangeFailed(phase, step.label, failureOf(error));
      }
    }
  };

  const preflightFailures = await runPreflight(plan, emitter, base, options.signal);
  if (options.signal.aborted) return finish('interrupted', 130);
  if (preflightFailures.length > 0) return finish('preflight-failed', 1, { preflightFailures });

  if (plan.checkpoint) {
    try {
      recorded.checkpointCommit = await takeRunCheckpoint(plan.checkpoint, emitter, secrets);
      recorded.checkpointDir = plan.checkpoint.dir;
    } catch (error) {
      return finish('preflight-failed', 1, { failure: { phase: 'checkpoint', failure: failureOf(error) } });
    }
  }
  // Interrupted while the checkpoint was taken: start no change; take the checkpoint back.
  if (options.signal.aborted) {
    await undoRunCheckpoint(foldRun(options.runId, emitter.events), emitter);
    return finish('interrupted', 130);
  }

  const applied: string[] = [];
  let failed: { change: PlannedChange; error: ChangeFailed } | undefined;
  const applyChange = async (planned: PlannedChange) => {
    const id = planned.change.id;
    const changeStart = performance.now();
    await emitter.emit(
      { type: 'change.started', changeId: id, number: planned.number, title: planned.change.title, checksum: planned.checksum, rollback: planned.rollback ? protectSecrets(planned.rollback, secrets) : null, ...(planned.irreversible !== undefined ? { irreversible: planned.irreversible } : {}), ...(options.replaces?.[id] ? { replaces: options.replaces[id] } : {}) },
      true,
    );
    if (!applied.includes(id)) applied.push(id);
    // Inverses are snapshotted (and journaled) when the rollback uses them: no written rollback, or one with `undo: apply`.
    await runSteps(planned.apply, 'apply', id, planned.rollback === null || planned.rollback.some((s) => s.type === 'undo'));
    await emitter.emit({ type: 'change.applied', changeId: id, durationMs: performance.now() - changeStart });
    await runSteps(planned.verify, 'verify', id, false);
    await emitter.emit({ type: 'change.verified', changeId: id, durationMs: performance.now() - changeStart, verifySteps: planned.verify.length }, true);
  };
  for (const planned of selected) {
    const id = planned.change.id;
    try {
      if (!options.rehearse) await applyChange(planned);
      else {
        await rehearseChange(planned, {
          emitter,
          base,
          secrets,
          signal: options.signal,
          rollbackSignals: options.rollbackSignals,
          redact,
          changeState: (changeId) => foldRun(options.runId, emitter.events).changes.find((c) => c.id === changeId),
          apply: () => applyChange(planned),
          run: (steps, phase) => runSteps(steps, phase, id, false),
          fail: (step, failure) => new ChangeFailed('rehearse', step, failure),
        });
      }
    } catch (error) {
      if (!(error instanceof ChangeFailed)) throw error;
      await emitter.emit({ type: 'change.failed', changeId: id, phase: error.phase, failure: error.failure }, true);
      failed = { change: planned, error };
      break;
    }
  }

  if (!failed && plan.runbook.watch) {
    failed = await watchWindow(selected, emitter, plan.runbook.watch, options.signal, async (steps, id) => runSteps(steps, 'watch', id, false));
  }

  if (!failed) return finish('applied', 0);

  const interrupted = options.signal.aborted;
  const policy = plan.runbook.policy.onFailure;
  const state = foldRun(options.runId, emitter.events);
  const byId = new Map(state.changes.map((c) => [c.id, c]));
  const failedId = failed.change.change.id;
  const candidates = policy === 'rollback-all' ? [...applied].reverse() : policy === 'rollback-change' ? [failedId] : [];
  // A failed rehearsal has already rolled its change back (or failed before starting it): nothing of it to undo.
  const toUndo = candidates.map((id) => byId.get(id)).filter((c): c is ChangeState => c !== undefined && c.status !== 'rolled-back');
  const undoneByRehearsal = failed.error.phase === 'rehearse' && byId.get(failedId)?.status !== 'failed';
  const failure = { changeId: failedId, phase: failed.error.phase, step: failed.error.step, failure: failed.error.failure };
  if (toUndo.length === 0 && (policy === 'stop' || !undoneByRehearsal)) return finish(interrupted ? 'interrupted' : 'stopped', interrupted ? 130 : 1, { failure });

  const reason = interrupted ? 'interrupted' : `change ${failedId} failed in ${failed.error.phase}`;
  const rb = await rollbackChanges(toUndo, reason, emitter, { ...base, output: base.output }, secrets, options.rollbackSignals);
  if (!rb.ok) return finish('rollback-failed', 3, { failure, rollbackFailure: rb.failed, rollbackInterrupted: rb.interrupted });
  await undoRunCheckpoint(foldRun(options.runId, emitter.events), emitter);
  return finish(interrupted ? 'interrupted' : 'rolled-back', interrupted ? 130 : 1, { failure });
}

/**
 * After the last change: re-run every applied change's verify steps until the window ends. An
 * interrupt, also between rounds, ends the window at once as a failure of the last change.
 */
async function watchWindow(
  selected: PlannedChange[],
  emitter: Emitter,
  watch: { duration: number; interval: number },
  signal: AbortSignal,
  run: (steps: ResolvedStep[], changeId: string) => Promise<void>,
): Promise<{ change: PlannedChange; error: ChangeFailed } | undefined> {
  const fail = async (planned: PlannedChange, error: ChangeFailed) => {
    await emitter.emit({ type: 'change.failed', changeId: planned.change.id, phase: 'watch', failure: error.failure }, true);
    await emitter.emit({ type: 'watch.finished', ok: false }, true);
    return { change: planned, error };
  };
  const last = selected[selected.length - 1];
  if (!last) return undefined;
  await emitter.emit({ type: 'watch.started', durationMs: watch.duration }, true);
  const end = performance.now() + watch.duration;
  while (performance.now() < end) {
    for (const planned of selected) {
      try {
        await run(planned.verify, planned.change.id);
      } catch (error) {
        if (!(error instanceof ChangeFailed)) throw error;
        return fail(planned, error);
      }
    }
    const left = end - performance.now();
    try {
      if (left > 0) await abortableSleep(Math.min(watch.interval, left), signal);
    } catch (error) {
      return fail(last, new ChangeFailed('watch', 'watch window', failureOf(error)));
    }
  }
  if (signal.aborted) return fail(last, new ChangeFailed('watch', 'watch window', { message: abortReason(signal) }));
  await emitter.emit({ type: 'watch.finished', ok: true }, true);
  return undefined;
}
