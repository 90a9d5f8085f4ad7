import { hostname, userInfo } from 'node:os';
import { dirname } from 'node:path';
import { changeKey, foldRun, type ChangeState, type RunState } from '../history/applied-state.js';
import type { Phase, EventListener, RunOutcome, StepFailure } from '../model/events.js';
import type { Plan, PlannedChange } from '../model/plan.js';
import type { ResolvedStep } from '../model/runbook.js';
import { requiredCommandsCheck } from '../plan/required-commands.js';
import { selectChanges } from '../plan/select.js';
import { createRedactor } from '../secrets/redact.js';
import { protectSecrets, secretValues, type SecretValues } from '../secrets/secrets.js';
import type { RunJournal } from '../state/contract.js';
import type { StepContext } from '../steps/contract.js';
import type { Target } from '../steps/kit/target.js';
import { holderIdentity } from '../support/process-identity.js';
import { stepType } from '../steps/registry.js';
import { takeRunCheckpoint, undoRunCheckpoint } from './checkpoint.js';
import { Emitter } from './emitter.js';
import { runPreflight, type PreflightFailure } from './preflight.js';
import { type RollbackSignals } from './rollback.js';
import { rollbackAcross } from './rollback-waves.js';
import { ChangeFailed, type Lane } from './lane.js';
import { runRollout } from './rollout.js';
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
  /** The hosts of the plan's changes, connected (and locked) by the caller; or why one could not be reached. */
  hosts?: Map<string, HostLink | { unreachable: string }>;
}

/** A connected host: where its steps act, and its login directory. */
export interface HostLink {
  target: Target;
  workdir: string;
}

export interface ExecuteResult {
  exitCode: number;
  outcome: RunOutcome;
  state: RunState;
  failure?: { changeId?: string; phase: Phase; step?: string; failure: StepFailure };
  rollbackFailure?: { changeId: string; failure: StepFailure; host?: string };
  /** Hosts that failed (unreachable, or a change failed there), with why. */
  failedHosts?: Map<string, string>;
  /** Every preflight check that failed (nothing was changed). */
  preflightFailures?: PreflightFailure[];
  /** The rollback was stopped by an interrupt before it finished. */
  rollbackInterrupted?: boolean;
  /** Renderers that failed and were dropped (the run itself went on). */
  displayErrors: string[];
}

/**
 * Applies a plan: preflight → checkpoint → for each change apply → verify → (watch) and,
 * on failure, rollback per policy. Everything it does is announced as events; the journal
 * gets each one before the work it announces starts.
 */
export async function execute(plan: Plan, options: ExecuteOptions): Promise<ExecuteResult> {
  const started = performance.now();
  const secrets: SecretValues = secretValues(plan.runbook.secrets, plan.vars, options.env);
  const emitter = new Emitter(options.journal, options.listeners, createRedactor([...plan.secretValues, ...secrets.values()]));
  const recorded: StepContext['recorded'] = {};
  const runbookDir = dirname(plan.runbook.file);
  const laneOf = (host: string | undefined, target: Target, workdir: string, env: NodeJS.ProcessEnv): Lane => {
    const lane: Lane = { ...(host !== undefined ? { host } : {}), current: { phase: 'preflight', index: 0, label: '' }, env: undefined as unknown as StepEnvironment };
    lane.env = {
      runbookDir,
      target,
      workdir,
      env,
      recorded,
      output: (chunk) => void emitter.emit({ type: 'step.output', ...lane.current, chunk }),
      spawned: (pid) => void emitter.emit({ type: 'step.process', ...lane.current, pid, ...holderIdentity(pid) }, true),
    };
    return lane;
  };
  const local = laneOf(undefined, localTarget(runbookDir), runbookDir, options.env);
  const base = local.env;
  const lanes = new Map<string, Lane | string>();
  for (const [host, link] of options.hosts ?? []) lanes.set(host, 'unreachable' in link ? link.unreachable : laneOf(host, link.target, link.workdir, {}));
  const selected = selectChanges(plan, options.only, options.from);
  const failedHosts = new Map<string, string>();

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
      ...(plan.fleet ? { fleet: { hosts: plan.fleet.hosts.map((h) => h.name), batches: plan.fleet.batches, maxFailures: plan.fleet.maxFailures, ...(plan.fleet.sshConfig ? { sshConfig: plan.fleet.sshConfig } : {}) } } : {}),
    },
    true,
  );

  const finish = async (outcome: RunOutcome, exitCode: number, extra: Partial<ExecuteResult> = {}): Promise<ExecuteResult> => {
    const interim = foldRun(options.runId, emitter.events);
    const remaining = interim.changes.filter((c) => c.status !== 'rolled-back').map(changeKey);
    await emitter.emit({ type: 'run.finished', outcome, exitCode, remaining, durationMs: performance.now() - started }, true);
    return { exitCode, outcome, state: foldRun(options.runId, emitter.events), displayErrors: emitter.listenerErrors.map((e) => e.message), ...(failedHosts.size ? { failedHosts } : {}), ...extra };
  };

  const runSteps = async (lane: Lane, steps: ResolvedStep[], phase: Phase, changeId: string | undefined, journalInverse: boolean) => {
    for (const [index, step] of steps.entries()) {
      lane.current = { phase, changeId, index, label: step.label, ...(lane.host !== undefined ? { host: lane.host } : {}) };
      const ref = lane.current;
      let inverse: ResolvedStep[] | undefined;
      const def = stepType(step.type);
      if (options.signal.aborted) throw new ChangeFailed(phase, step.label, { message: abortReason(options.signal) });
      if (journalInverse && def?.inverse) {
        const snapshot = def.inverse;
        try {
          // The snapshot is bound by the step's timeout and by interrupts, like the step itself.
          inverse = protectSecrets(await withinLimits(step, options.signal, (signal) => snapshot(step.params as never, stepContext(step, phase, lane.env, signal))), secrets);
        } catch (error) {
          throw new ChangeFailed(phase, step.label, { message: `cannot snapshot before changing: ${failureOf(error).message}` });
        }
      }
      try {
        await runWithRetries(step, phase, lane.env, options.signal, {
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

  /** One change on one lane: announced, applied, verified. Throws ChangeFailed (after journaling it). */
  const applyChange = async (lane: Lane, planned: PlannedChange, steps: Pick<PlannedChange, 'apply' | 'verify' | 'rollback' | 'checksum'>, batch?: number) => {
    const id = planned.change.id;
    const on = lane.host !== undefined ? { host: lane.host } : {};
    const changeStart = performance.now();
    await emitter.emit(
      { type: 'change.started', changeId: id, number: planned.number, title: planned.change.title, checksum: steps.checksum, rollback: steps.rollback ? protectSecrets(steps.rollback, secrets) : null, ...(planned.irreversible !== undefined ? { irreversible: planned.irreversible } : {}), ...(options.replaces?.[id] ? { replaces: options.replaces[id] } : {}), ...on, ...(batch !== undefined ? { batch } : {}) },
      true,
    );
    try {
      // Inverses are snapshotted (and journaled) when the rollback uses them: no written rollback, or one with `undo: apply`.
      await runSteps(lane, steps.apply, 'apply', id, steps.rollback === null || steps.rollback.some((s) => s.type === 'undo'));
      await emitter.emit({ type: 'change.applied', changeId: id, durationMs: performance.now() - changeStart, ...on });
      await runSteps(lane, steps.verify, 'verify', id, false);
      await emitter.emit({ type: 'change.verified', changeId: id, durationMs: performance.now() - changeStart, verifySteps: steps.verify.length, ...on }, true);
    } catch (error) {
      if (!(error instanceof ChangeFailed)) throw error;
      await emitter.emit({ type: 'change.failed', changeId: id, phase: error.phase, failure: error.failure, ...on }, true);
      throw error;
    }
  };

  // On every reachable host: the programs its steps run are there, before anything changes anywhere.
  const hostChecks = async (): Promise<PreflightFailure[]> => {
    const failures: PreflightFailure[] = [];
    for (const [host, lane] of lanes) {
      if (typeof lane !== 'object' || options.signal.aborted) continue;
      const check = requiredCommandsCheck([], selected.flatMap((c) => (c.targets ?? []).filter((t) => t.host === host).map((t) => ({ ...c, ...t }))), false);
      if (!check) continue;
      lane.current = { phase: 'preflight', index: 0, label: check.label, host };
      const ref = lane.current;
      try {
        await runWithRetries(check, 'preflight', lane.env, options.signal, {
          started: (attempt) => emitter.emit({ type: 'step.started', ...ref, attempt }),
          finished: (attempt, r) => emitter.emit(r.ok ? { type: 'step.finished', ...ref, attempt, ok: true, durationMs: r.ms, detail: r.outcome.detail } : { type: 'step.finished', ...ref, attempt, ok: false, durationMs: r.ms, failure: r.failure }),
        });
      } catch (error) {
        failures.push({ step: `${host}: ${check.label}`, failure: failureOf(error) });
      }
    }
    return failures;
  };
  const preflightFailures = await runPreflight(plan, emitter, base, options.signal, hostChecks);
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

  let failed: { change: PlannedChange; error: ChangeFailed; host?: string } | undefined;
  for (const stage of stages(selected)) {
    if (stage.onHosts) {
      const rollout = await runRollout(stage.changes, plan, {
        emitter,
        signal: options.signal,
        lanes,
        failedHosts,
        apply: applyChange,
        verify: (lane, steps, changeId) => runSteps(lane, steps, 'watch', changeId, false),
        rollbackHost: async (host, reason) => {
          const lane = lanes.get(host);
          const state = foldRun(options.runId, emitter.events);
          const undo = state.changes.filter((c) => c.host === host && c.status !== 'rolled-back').reverse();
          if (plan.runbook.policy.onFailure === 'stop' || undo.length === 0 || typeof lane !== 'object') return true;
          return (await rollbackAcross(undo, reason, emitter, () => lane.env, secrets, options.rollbackSignals)).ok;
        },
        watch: plan.runbook.watch,
      });
      if (rollout.failed) {
        failed = rollout.failed as typeof failed;
        break;
      }
      continue;
    }
    for (const planned of stage.changes) {
      try {
        await applyChange(local, planned, planned);
      } catch (error) {
        if (!(error instanceof ChangeFailed)) throw error;
        failed = { change: planned, error };
        break;
      }
    }
    if (failed) break;
  }

  if (!failed && plan.runbook.watch && !plan.fleet) {
    failed = await watchWindow(selected, emitter, plan.runbook.watch, options.signal, async (steps, id) => runSteps(local, steps, 'watch', id, false));
  }

  if (!failed) {
    // Hosts that failed within maxFailures were rolled back one by one: the run is not all applied.
    return failedHosts.size ? finish('applied', 1) : finish('applied', 0);
  }

  const interrupted = options.signal.aborted;
  const policy = plan.runbook.policy.onFailure;
  const state = foldRun(options.runId, emitter.events);
  const failedId = failed.change.change.id;
  const live = state.changes.filter((c) => c.status !== 'rolled-back');
  let toUndo: ChangeState[] = [];
  if (policy === 'rollback-all') toUndo = [...live].reverse();
  else if (policy === 'rollback-change' || policy === 'rollback-failed') {
    toUndo = live.filter((c) => (c.host === undefined ? c.id === failedId && failed.host === undefined : failedHosts.has(c.host))).reverse();
  }
  const failure = { changeId: failedId, phase: failed.error.phase, step: failed.error.step, failure: failed.error.failure, ...(failed.host !== undefined ? { host: failed.host } : {}) };
  if (toUndo.length === 0) return finish(interrupted ? 'interrupted' : 'stopped', interrupted ? 130 : 1, { failure });

  const reason = interrupted ? 'interrupted' : `change ${failedId}${failed.host !== undefined ? ` on ${failed.host}` : ''} failed in ${failed.error.phase}`;
  const envFor = (host: string | undefined) => {
    if (host === undefined) return base;
    const lane = lanes.get(host);
    return typeof lane === 'object' ? lane.env : `${host}: ${lane ?? 'not connected'}`;
  };
  const rb = await rollbackAcross(toUndo, reason, emitter, envFor, secrets, options.rollbackSignals);
  if (!rb.ok) return finish('rollback-failed', 3, { failure, rollbackFailure: rb.failed, rollbackInterrupted: rb.interrupted });
  await undoRunCheckpoint(foldRun(options.runId, emitter.events), emitter);
  return finish(interrupted ? 'interrupted' : 'rolled-back', interrupted ? 130 : 1, { failure });
}

/** Consecutive changes on this machine, and consecutive changes on hosts (one rollout), in runbook order. */
function stages(selected: PlannedChange[]): { onHosts: boolean; changes: PlannedChange[] }[] {
  const out: { onHosts: boolean; changes: PlannedChange[] }[] = [];
  for (const c of selected) {
    const onHosts = c.targets !== undefined;
    const last = out[out.length - 1];
    if (last && last.onHosts === onHosts) last.changes.push(c);
    else out.push({ onHosts, changes: [c] });
  }
  return out;
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
