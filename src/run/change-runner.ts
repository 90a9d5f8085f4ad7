import type { Phase } from '../model/events.js';
import type { PlannedChange } from '../model/plan.js';
import type { ResolvedStep } from '../model/runbook.js';
import { protectSecrets, type SecretValues } from '../secrets/secrets.js';
import type { StepContext } from '../steps/contract.js';
import type { Target } from '../steps/kit/target.js';
import { stepType } from '../steps/registry.js';
import type { Emitter } from './emitter.js';
import { ChangeFailed, type Lane } from './lane.js';
import { journalProcess } from './orphans.js';
import { abortReason, failureOf, retryFields, runWithRetries, stepContext, withinLimits } from './step-runner.js';

export interface ChangeRunnerContext {
  emitter: Emitter;
  secrets: SecretValues;
  /** Aborted on an interrupt: the running step is killed. */
  signal: AbortSignal;
  runbookDir: string;
  /** Journal facts steps may need (the run's checkpoint), shared by every lane. */
  recorded: StepContext['recorded'];
  /** `--reapply`: what each change goes on top of. */
  replaces?: Record<string, { runId: string; checksum: string; at?: string }>;
}

/** The steps of one change, as planned for this machine or for one host. */
export type ChangeSteps = Pick<PlannedChange, 'apply' | 'verify' | 'rollback' | 'checksum'>;

/**
 * Runs steps and changes on lanes (this machine, or one host), announcing everything as
 * events; an inverse is journaled (fsynced) before the step it undoes starts, and every
 * process a step starts is journaled as it starts.
 */
/**
 * A rollback step as journaled: what to run, not where it was written. Nothing reads a journaled
 * step's position, and looking one up costs yaml's full parse of the runbook (the fast parse
 * keeps none): ~5–10 ms of every apply.
 */
function withoutPos({ pos: _pos, ...step }: ResolvedStep): ResolvedStep {
  return step;
}

export class ChangeRunner {
  constructor(private readonly ctx: ChangeRunnerContext) {}

  lane(host: string | undefined, target: Target, workdir: string, env: NodeJS.ProcessEnv): Lane {
    const { emitter } = this.ctx;
    const lane: Lane = { ...(host !== undefined ? { host } : {}), current: { phase: 'preflight', index: 0, label: '' }, env: undefined as never };
    lane.env = {
      runbookDir: this.ctx.runbookDir,
      target,
      workdir,
      env,
      recorded: this.ctx.recorded,
      output: (chunk) => void emitter.emit({ type: 'step.output', ...lane.current, chunk }),
      spawned: (pid) => journalProcess(emitter, lane.current, pid),
    };
    return lane;
  }

  async runSteps(lane: Lane, steps: ResolvedStep[], phase: Phase, changeId: string | undefined, journalInverse: boolean): Promise<void> {
    const { emitter, signal, secrets } = this.ctx;
    for (const [index, step] of steps.entries()) {
      lane.current = { phase, changeId, index, label: step.label, ...(lane.host !== undefined ? { host: lane.host } : {}) };
      const ref = lane.current;
      let inverse: ResolvedStep[] | undefined;
      const def = stepType(step.type);
      if (signal.aborted) throw new ChangeFailed(phase, step.label, { message: abortReason(signal) });
      if (journalInverse && def?.inverse) {
        const snapshot = def.inverse;
        try {
          // The snapshot is bound by the step's timeout and by interrupts, like the step itself.
          inverse = protectSecrets(await withinLimits(step, signal, (s) => snapshot(step.params as never, stepContext(step, phase, lane.env, s))), secrets);
        } catch (error) {
          throw new ChangeFailed(phase, step.label, { message: `cannot snapshot before changing: ${failureOf(error).message}` });
        }
      }
      try {
        await runWithRetries(step, phase, lane.env, signal, {
          // Durable before it runs when it carries an inverse, and always on a host: the journal holds every remote step before the host does it.
          started: (attempt) => emitter.emit({ type: 'step.started', ...ref, attempt, inverse: attempt === 1 ? inverse : undefined }, (attempt === 1 && inverse !== undefined) || lane.host !== undefined),
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
  }

  /** One change on one lane: announced, applied, verified. Throws ChangeFailed (after journaling it, unless `journalFailure` is false: the caller does). */
  async applyChange(lane: Lane, planned: PlannedChange, steps: ChangeSteps, batch?: number, journalFailure = true): Promise<void> {
    const { emitter, secrets, replaces } = this.ctx;
    const id = planned.change.id;
    const on = lane.host !== undefined ? { host: lane.host } : {};
    const changeStart = performance.now();
    await emitter.emit(
      { type: 'change.started', changeId: id, number: planned.number, title: planned.change.title, checksum: steps.checksum, rollback: steps.rollback ? protectSecrets(steps.rollback.map(withoutPos), secrets) : null, ...(planned.irreversible !== undefined ? { irreversible: planned.irreversible } : {}), ...(replaces?.[id] ? { replaces: replaces[id] } : {}), ...on, ...(batch !== undefined ? { batch } : {}) },
      true,
    );
    try {
      // Inverses are snapshotted (and journaled) when the rollback uses them: no written rollback, or one with `undo: apply`.
      await this.runSteps(lane, steps.apply, 'apply', id, steps.rollback === null || steps.rollback.some((s) => s.type === 'undo'));
      await emitter.emit({ type: 'change.applied', changeId: id, durationMs: performance.now() - changeStart, ...on });
      await this.runSteps(lane, steps.verify, 'verify', id, false);
      // Not fsynced by itself: nothing changes before the next durable record (the next change's
      // start, the run's end), whose fdatasync makes this one durable too. Lost to a power cut,
      // the change reads as applied but unverified, and a rollback undoes it all the same.
      await emitter.emit({ type: 'change.verified', changeId: id, durationMs: performance.now() - changeStart, verifySteps: steps.verify.length, ...on });
    } catch (error) {
      if (!(error instanceof ChangeFailed)) throw error;
      if (journalFailure) await emitter.emit({ type: 'change.failed', changeId: id, phase: error.phase, failure: error.failure, ...on }, true);
      throw error;
    }
  }
}
