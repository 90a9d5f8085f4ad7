import { changeKey, type ChangeState } from '../history/applied-state.js';
import type { SecretValues } from '../secrets/secrets.js';
import type { Emitter } from './emitter.js';
import { rollbackChanges, type RollbackResult, type RollbackSignals } from './rollback.js';
import type { StepEnvironment } from './step-runner.js';

/**
 * Changes to undo, newest first, cut into waves: a run of changes on this machine is undone
 * one by one; the changes of one rollout batch are undone host by host in parallel (each host
 * its own changes, newest first), as they were applied.
 */
export function rollbackWaves(newestFirst: ChangeState[]): ChangeState[][][] {
  const waves: ChangeState[][][] = [];
  for (const c of newestFirst) {
    const last = waves[waves.length - 1];
    const lastOne = last?.[0]?.[0];
    if (c.host !== undefined && lastOne?.host !== undefined && lastOne.batch === c.batch) {
      const lane = last!.find((l) => l[0]!.host === c.host);
      if (lane) lane.push(c);
      else last!.push([c]);
    } else if (c.host === undefined && lastOne !== undefined && lastOne.host === undefined) {
      last![0]!.push(c);
    } else {
      waves.push([[c]]);
    }
  }
  return waves;
}

/**
 * Undoes `newestFirst` wave by wave; `envFor` gives the step environment of a change's host
 * (or this machine), or why that host cannot be reached. Where a rollback fails, nothing older
 * is undone on that same host (undoing older changes under a broken newer one could make things
 * worse); other hosts go on. A failure on this machine, or an interrupt, ends the rollback.
 */
export async function rollbackAcross(
  newestFirst: ChangeState[],
  reason: string,
  emitter: Emitter,
  envFor: (host: string | undefined) => StepEnvironment | string,
  secrets: SecretValues,
  signals: RollbackSignals,
): Promise<RollbackResult> {
  const total: RollbackResult = { ok: true, undone: [], interrupted: false };
  const broken = new Set<string | undefined>();
  for (const wave of rollbackWaves(newestFirst)) {
    const results = await Promise.all(
      wave.map(async (lane) => {
        if (broken.has(lane[0]!.host)) return { ok: false, undone: [], interrupted: false } satisfies RollbackResult;
        const env = envFor(lane[0]!.host);
        if (typeof env === 'string') {
          // The host cannot be reached: its changes stay applied, said per change.
          const failure = { message: env };
          for (const c of lane) await emitter.emit({ type: 'change.rolledBack', changeId: c.id, ok: false, failure, durationMs: 0, ...(c.host !== undefined ? { host: c.host } : {}) }, true);
          return { ok: false, undone: [], failed: { changeId: lane[0]!.id, failure, host: lane[0]!.host }, interrupted: false } satisfies RollbackResult;
        }
        return rollbackChanges(lane, reason, emitter, env, secrets, signals);
      }),
    );
    for (const [i, r] of results.entries()) {
      total.undone.push(...r.undone);
      if (!r.ok) {
        total.ok = false;
        broken.add(wave[i]![0]!.host);
      }
      total.failed ??= r.failed;
      total.interrupted ||= r.interrupted;
    }
    if (total.interrupted || broken.has(undefined)) break;
  }
  return total;
}

export { changeKey };
