import type { Plan, PlannedChange, PlannedTarget } from '../model/plan.js';
import type { ResolvedStep } from '../model/runbook.js';
import type { Emitter } from './emitter.js';
import { ChangeFailed, type Lane } from './lane.js';
import { abortableSleep, failureOf } from './step-runner.js';

export interface RolloutContext {
  emitter: Emitter;
  signal: AbortSignal;
  /** Each host's lane, or why it could not be reached. */
  lanes: Map<string, Lane | string>;
  /** Filled with every host that fails, and why. */
  failedHosts: Map<string, string>;
  /** One change on one host: apply, verify (journaled); throws ChangeFailed. */
  apply(lane: Lane, planned: PlannedChange, steps: PlannedTarget, batch: number): Promise<void>;
  /** Re-runs verify steps on a host (during a pause); throws ChangeFailed. */
  verify(lane: Lane, steps: ResolvedStep[], changeId: string): Promise<void>;
  /** Undoes what this run applied on one host (a failure within maxFailures); false if that rollback failed. */
  rollbackHost(host: string, reason: string): Promise<boolean>;
  watch?: { duration: number; interval: number };
}

export interface RolloutFailure {
  change: PlannedChange;
  error: ChangeFailed;
  host: string;
}

/** The changes of one host, in runbook order, each with its steps for that host. */
function work(changes: PlannedChange[], host: string): { planned: PlannedChange; steps: PlannedTarget }[] {
  return changes.flatMap((planned) => {
    const steps = planned.targets?.find((t) => t.host === host);
    return steps ? [{ planned, steps }] : [];
  });
}

/**
 * Rolls consecutive changes out over their hosts, host-major (each host runs all of them, with
 * verify, before it counts as done): the canary batch alone, then batch after batch, hosts of a
 * batch in parallel. A host that fails is rolled back at once while the failed hosts stay within
 * `maxFailures`; past it the rollout stops and the caller rolls back per policy. Between batches
 * it pauses; with a `watch`, the hosts already done are verified during the pause.
 */
export async function runRollout(changes: PlannedChange[], plan: Plan, ctx: RolloutContext): Promise<{ failed?: RolloutFailure }> {
  const fleet = plan.fleet!;
  const involved = new Set(changes.flatMap((c) => (c.targets ?? []).map((t) => t.host)));
  const batches = fleet.batches.map((b) => b.filter((h) => involved.has(h))).filter((b) => b.length > 0);
  const done: string[] = [];
  let first: RolloutFailure | undefined;

  const hostFailed = async (host: string, failure: RolloutFailure, reason: string) => {
    ctx.failedHosts.set(host, reason);
    first ??= failure;
    await ctx.emitter.emit({ type: 'host.failed', host, reason, changeId: failure.change.change.id }, true);
  };
  const overLimit = () => ctx.failedHosts.size > fleet.maxFailures;
  const rollBackTolerated = async (hosts: string[]) => {
    for (const host of hosts) await ctx.rollbackHost(host, `host ${host} failed (${ctx.failedHosts.get(host)}); within maxFailures ${fleet.maxFailures}, the rollout goes on`);
  };

  for (const [i, batch] of batches.entries()) {
    if (ctx.signal.aborted) break;
    await ctx.emitter.emit({ type: 'batch.started', batch: i + 1, of: batches.length, hosts: batch }, true);
    const failedNow: string[] = [];
    await Promise.all(
      batch.map(async (host) => {
        const lane = ctx.lanes.get(host);
        const todo = work(changes, host);
        if (typeof lane !== 'object') {
          const reason = lane ?? 'not connected';
          failedNow.push(host);
          await hostFailed(host, { change: todo[0]!.planned, error: new ChangeFailed('apply', 'connect', { message: reason }), host }, reason);
          return;
        }
        for (const { planned, steps } of todo) {
          try {
            await ctx.apply(lane, planned, steps, i + 1);
          } catch (error) {
            if (!(error instanceof ChangeFailed)) throw error;
            failedNow.push(host);
            await hostFailed(host, { change: planned, error, host }, `${planned.change.id} failed in ${error.phase}: ${error.failure.message}`);
            return;
          }
        }
        done.push(host);
      }),
    );
    if (ctx.signal.aborted || overLimit()) return { failed: first };
    await rollBackTolerated(failedNow);
    if (i < batches.length - 1 && fleet.pause > 0) {
      const failedInPause = await pauseWatching(done, changes, fleet.pause, ctx, hostFailed, overLimit);
      done.splice(0, done.length, ...done.filter((h) => !failedInPause.includes(h)));
      if (ctx.signal.aborted || overLimit()) return { failed: first };
      await rollBackTolerated(failedInPause);
    }
  }
  if (ctx.signal.aborted && first === undefined && changes[0]) {
    first = { change: changes[0], error: new ChangeFailed('apply', 'rollout', { message: 'interrupted' }), host: batches[0]?.[0] ?? '' };
  }
  return ctx.signal.aborted ? { failed: first } : {};
}

/** The pause between batches; with a `watch`, the hosts done so far keep being verified. Returns the hosts that failed. */
async function pauseWatching(
  done: string[],
  changes: PlannedChange[],
  pause: number,
  ctx: RolloutContext,
  hostFailed: (host: string, failure: RolloutFailure, reason: string) => Promise<void>,
  overLimit: () => boolean,
): Promise<string[]> {
  const failed: string[] = [];
  const end = performance.now() + pause;
  try {
    // Past maxFailures the rollout stops now: the rest of the pause would leave the failed hosts as they are.
    while (performance.now() < end && !overLimit()) {
      if (ctx.watch) {
        await Promise.all(
          done.filter((h) => !failed.includes(h)).map(async (host) => {
            const lane = ctx.lanes.get(host);
            if (typeof lane !== 'object') return;
            for (const { planned, steps } of work(changes, host)) {
              try {
                await ctx.verify(lane, steps.verify, planned.change.id);
              } catch (error) {
                if (!(error instanceof ChangeFailed)) throw error;
                failed.push(host);
                await ctx.emitter.emit({ type: 'change.failed', changeId: planned.change.id, phase: 'watch', failure: error.failure, host }, true);
                await hostFailed(host, { change: planned, error, host }, `${planned.change.id} failed its verify during the pause: ${error.failure.message}`);
                return;
              }
            }
          }),
        );
      }
      const left = end - performance.now();
      if (left > 0 && !overLimit()) await abortableSleep(Math.min(ctx.watch?.interval ?? left, left), ctx.signal);
    }
  } catch (error) {
    if (!ctx.signal.aborted) throw new Error(failureOf(error).message);
  }
  return failed;
}
