import { hostname, userInfo } from 'node:os';
import { dirname } from 'node:path';
import { changeKey, foldRun, type ChangeState, type RunState } from '../history/applied-state.js';
import type { Phase, EventListener, RunOutcome, StepFailure } from '../model/events.js';
import type { Plan, PlannedChange } from '../model/plan.js';
import { selectChanges } from '../plan/select.js';
import { createRedactor } from '../secrets/redact.js';
import { secretValues, type SecretValues } from '../secrets/secrets.js';
import type { RunJournal } from '../state/contract.js';
import type { StepContext } from '../steps/contract.js';
import type { Target } from '../steps/kit/target.js';
import { takeRunCheckpoint, undoRunCheckpoint } from './checkpoint.js';
import { Emitter } from './emitter.js';
import { runPreflight, type PreflightFailure } from './preflight.js';
import { type RollbackSignals } from './rollback.js';
import { rollbackAcross } from './rollback-waves.js';
import { ChangeRunner } from './change-runner.js';
import { checkHostPrograms } from './host-preflight.js';
import { ChangeFailed, type Lane } from './lane.js';
import { runRollout } from './rollout.js';
import { watchWindow } from './watch-window.js';
import { rehearseChange } from './rehearse.js';
import { failureOf } from './step-runner.js';
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
  const redact = createRedactor([...plan.secretValues, ...secrets.values()]);
  const emitter = new Emitter(options.journal, options.listeners, redact);
  const recorded: StepContext['recorded'] = {};
  const runbookDir = dirname(plan.runbook.file);
  const runner = new ChangeRunner({ emitter, secrets, signal: options.signal, runbookDir, recorded, ...(options.replaces ? { replaces: options.replaces } : {}) });
  const local = runner.lane(undefined, localTarget(runbookDir), runbookDir, options.env);
  const base = local.env;
  const lanes = new Map<string, Lane | string>();
  for (const [host, link] of options.hosts ?? []) lanes.set(host, 'unreachable' in link ? link.unreachable : runner.lane(host, link.target, link.workdir, {}));
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
    // Written, not fsynced: preflight changes nothing, and the first record before a change
    // (checkpoint.started, change.started) is fsynced, which makes everything before it durable too.
    false,
  );

  const finish = async (outcome: RunOutcome, exitCode: number, extra: Partial<ExecuteResult> = {}): Promise<ExecuteResult> => {
    const interim = foldRun(options.runId, emitter.events);
    const remaining = interim.changes.filter((c) => c.status !== 'rolled-back').map(changeKey);
    await emitter.emit({ type: 'run.finished', outcome, exitCode, remaining, durationMs: performance.now() - started }, true);
    return { exitCode, outcome, state: foldRun(options.runId, emitter.events), displayErrors: emitter.listenerErrors.map((e) => e.message), ...(failedHosts.size ? { failedHosts } : {}), ...extra };
  };

  const runSteps = runner.runSteps.bind(runner);
  const applyChange = runner.applyChange.bind(runner);
  const hostChecks = () => checkHostPrograms(selected, lanes, emitter, options.signal);
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
  const allStages = stages(selected);
  const lastOnHosts = allStages.filter((st) => st.onHosts).at(-1);
  for (const stage of allStages) {
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
        watchAtEnd: stage === lastOnHosts,
      });
      if (rollout.failed) {
        failed = rollout.failed as typeof failed;
        break;
      }
      continue;
    }
    for (const planned of stage.changes) {
      const id = planned.change.id;
      try {
        if (!options.rehearse) await applyChange(local, planned, planned);
        else {
          await rehearseChange(planned, {
            emitter,
            base,
            secrets,
            signal: options.signal,
            rollbackSignals: options.rollbackSignals,
            redact,
            changeState: (changeId) => foldRun(options.runId, emitter.events).changes.find((c) => c.id === changeId && c.host === undefined),
            apply: () => applyChange(local, planned, planned, undefined, false),
            run: (steps, phase) => runSteps(local, steps, phase, id, false),
            fail: (step, failure) => new ChangeFailed('rehearse', step, failure),
          });
        }
      } catch (error) {
        if (!(error instanceof ChangeFailed)) throw error;
        if (options.rehearse) await emitter.emit({ type: 'change.failed', changeId: id, phase: error.phase, failure: error.failure }, true);
        failed = { change: planned, error };
        break;
      }
    }
    if (failed) break;
  }

  const localChanges = selected.filter((c) => c.targets === undefined);
  if (!failed && plan.runbook.watch && localChanges.length > 0) {
    failed = await watchWindow(localChanges, emitter, plan.runbook.watch, options.signal, async (steps, id) => runSteps(local, steps, 'watch', id, false));
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
  // A failed rehearsal has already rolled its change back (or failed before starting it): nothing of it to undo.
  const undoneByRehearsal = failed.error.phase === 'rehearse' && state.changes.find((c) => c.id === failedId && c.host === undefined)?.status !== 'failed';
  const failure = { changeId: failedId, phase: failed.error.phase, step: failed.error.step, failure: failed.error.failure, ...(failed.host !== undefined ? { host: failed.host } : {}) };
  if (toUndo.length === 0 && (policy === 'stop' || !undoneByRehearsal)) return finish(interrupted ? 'interrupted' : 'stopped', interrupted ? 130 : 1, { failure });

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
