import type { ChangeState } from '../history/applied-state.js';
import type { RehearsalDifference, StepFailure } from '../model/events.js';
import type { PlannedChange } from '../model/plan.js';
import type { ResolvedStep } from '../model/runbook.js';
import type { SecretValues } from '../secrets/secrets.js';
import type { Emitter } from './emitter.js';
import { compareFingerprints, putBack, takeFingerprints, touchedBy } from './fingerprint.js';
import { rollbackChanges, type RollbackSignals } from './rollback.js';
import { stepType } from '../steps/registry.js';
import { abortReason, failureOf, type StepEnvironment } from './step-runner.js';

/** What the executor lends a rehearsal: its event stream and environment, and its own way to apply, check and fail a change. */
export interface RehearsalContext {
  emitter: Emitter;
  base: StepEnvironment;
  secrets: SecretValues;
  /** The first interrupt: no new work starts. */
  signal: AbortSignal;
  /** The rehearsal's rollback is interrupted as any rollback is. */
  rollbackSignals: RollbackSignals;
  /** Secret values out of the diff's lines before they are cut to width. */
  redact: (text: string) => string;
  /** The change as the journal has it now (its inverses, its written rollback). */
  changeState(id: string): ChangeState | undefined;
  /** Applies and verifies the change, journaled as always; throws the executor's change failure. */
  apply(): Promise<void>;
  /** Runs steps of the change: its `rehearse` checks, or its rollback's service steps once more; throws the executor's change failure. */
  run(steps: ResolvedStep[], phase: 'rehearse' | 'rollback'): Promise<void>;
  /** The executor's change failure, for what the rehearsal itself finds. */
  fail(step: string, failure: StepFailure): Error;
}

/** The step name failures of the rehearsal itself carry. */
export const PROVE_STEP = 'rehearsal: prove the undo exact';

/**
 * After an inexact undo the kept bytes are put back; the written rollback's other steps
 * (rebuilds, restarts: steps that touch no file or crontab) then run once more, so what the
 * services built or loaded from those files is as before too. Says how that went.
 */
async function settleServices(planned: PlannedChange, ctx: RehearsalContext): Promise<string | undefined> {
  const steps = (planned.rollback ?? []).filter((s) => s.type !== 'undo' && !stepType(s.type)?.touches);
  if (steps.length === 0) return undefined;
  const labels = steps.map((s) => s.label).join(', ');
  try {
    await ctx.run(steps, 'rollback');
    return `ran again on the put-back files: ${labels}`;
  } catch (error) {
    return `ran again on the put-back files, and FAILED: ${labels}: ${((error as { failure?: StepFailure }).failure ?? failureOf(error)).message}`;
  }
}

function failureMessage(differences: RehearsalDifference[], restored: string[], left: string[], settled: string | undefined): StepFailure {
  const n = differences.length;
  const message = `the rollback is not exact: ${n} ${n === 1 ? 'thing differs' : 'things differ'} from before the apply (${differences.map((d) => d.target).join(', ')})`;
  const lines = differences.flatMap((d) => [`${d.target}: ${d.summary}`, ...d.lines.map((l) => `  ${l}`)]);
  if (restored.length) lines.push(`put back as before the apply, from the rehearsal's copy: ${restored.join(', ')}`);
  if (settled) lines.push(settled);
  if (left.length) lines.push(`NOT put back (restore by hand): ${left.join(', ')}`);
  return { message, outputTail: lines.join('\n') };
}

/**
 * `apply --rehearse`, one change: fingerprint every file and crontab its file and cron steps
 * touch → apply and verify → roll it back (journaled like any rollback) → prove the undo: the
 * same bytes (and mode) everywhere, and the change's `rehearse` checks pass on the restored
 * system → apply and verify it again. The bytes stay in memory; the journal gets only the
 * names and, when the undo is not exact, the first differing lines (secrets redacted). After an
 * inexact undo the rehearsal puts the kept bytes back (and runs the rollback's service steps
 * once more), so the system is as before, and fails the change: the executor then rolls back
 * per policy as for any failure.
 */
export async function rehearseChange(planned: PlannedChange, ctx: RehearsalContext): Promise<void> {
  const id = planned.change.id;
  const { emitter } = ctx;
  const finished = (result: 'passed' | 'failed' | 'skipped', started: number, extra: { differences?: RehearsalDifference[]; restored?: string[]; failure?: StepFailure } = {}) =>
    emitter.emit({ type: 'rehearsal.finished', changeId: id, result, differences: extra.differences ?? [], ...(extra.restored?.length ? { restored: extra.restored } : {}), ...(extra.failure ? { failure: extra.failure } : {}), durationMs: performance.now() - started }, true);

  if (planned.irreversible !== undefined) {
    await ctx.apply();
    await finished('skipped', performance.now(), { failure: { message: `not rehearsed: it cannot be undone (rollback: none): ${planned.irreversible}` } });
    return;
  }
  const targets = touchedBy(planned, ctx.base);
  let prints;
  try {
    prints = await takeFingerprints(targets, ctx.base.target, ctx.signal);
  } catch (error) {
    throw ctx.fail(PROVE_STEP, { ...failureOf(error), message: `cannot read what the change touches before applying it: ${failureOf(error).message}` });
  }
  await ctx.apply();

  const started = performance.now();
  await emitter.emit(
    { type: 'rehearsal.started', changeId: id, checksum: planned.checksum, files: prints.filter((p) => p.target.kind === 'file').map((p) => p.name), crontabs: prints.filter((p) => p.target.kind === 'crontab').map((p) => p.name) },
    true,
  );
  const fail = async (step: string, failure: StepFailure, extra: { differences?: RehearsalDifference[]; restored?: string[] } = {}) => {
    await finished('failed', started, { ...extra, failure });
    return ctx.fail(step, failure);
  };

  const state = ctx.changeState(id);
  if (!state) throw await fail(PROVE_STEP, { message: `the journal has no record of ${id} being applied` });
  const rb = await rollbackChanges([state], `rehearsal of ${id}`, emitter, ctx.base, ctx.secrets, ctx.rollbackSignals);
  if (!rb.ok) throw await fail('rehearsal: roll back', rb.failed?.failure ?? { message: 'the rollback was interrupted' });

  let differences: RehearsalDifference[];
  try {
    differences = await compareFingerprints(prints, ctx.base.target, ctx.rollbackSignals.kill, ctx.redact);
  } catch (error) {
    throw await fail(PROVE_STEP, { ...failureOf(error), message: `cannot read what the change touched after its rollback: ${failureOf(error).message}` });
  }
  if (differences.length) {
    const { restored, left } = await putBack(prints, differences.map((d) => d.target), ctx.base.target, ctx.rollbackSignals.kill);
    const settled = restored.length ? await settleServices(planned, ctx) : undefined;
    throw await fail(PROVE_STEP, failureMessage(differences, restored, left, settled), { differences, restored });
  }
  if (ctx.signal.aborted) throw await fail(PROVE_STEP, { message: abortReason(ctx.signal) });
  try {
    await ctx.run(planned.rehearse ?? [], 'rehearse');
  } catch (error) {
    await finished('failed', started, { failure: (error as { failure?: StepFailure }).failure ?? failureOf(error) });
    throw error;
  }
  await finished('passed', started);
  await ctx.apply();
}
