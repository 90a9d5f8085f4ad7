import { snapshotDigests } from '../model/snapshot.js';
import type { StateStore } from '../state/contract.js';
import { remaining } from './applied-state.js';
import { allRuns, checkpointToUndo, type RunView } from './runs.js';

export interface SnapshotCleanup {
  /** Digests removed from the snapshot store. */
  removed: string[];
  /** Why nothing was removed although something may not be needed (a damaged journal). */
  keptAll?: string;
}

/**
 * Removes the snapshots no run needs any more: a run needs those of its inverses while any of
 * its changes may still be applied (a rollback of it may still have to run). With a damaged
 * journal nothing is removed (what it references cannot all be read). Call with the lock held.
 */
export async function removeUnneededSnapshots(store: StateStore, runs?: RunView[]): Promise<SnapshotCleanup> {
  const views = runs ?? (await allRuns(store));
  const damaged = views.find((r) => r.corrupt);
  if (damaged) return { removed: [], keptAll: `every snapshot was kept: the journal of run ${damaged.state.runId} is damaged` };
  const needed = new Set(views.filter((r) => remaining(r.state).length > 0).flatMap((r) => snapshotDigests(r.state.changes.map((c) => c.inverses))));
  const removed = (await store.snapshots.list()).filter((digest) => !needed.has(digest));
  await store.snapshots.remove(removed);
  return { removed };
}

/** Why a run must stay in the history, or undefined when it may go. */
function mustKeep(r: RunView): string | undefined {
  if (r.corrupt) return 'its journal is damaged';
  const left = remaining(r.state);
  if (left.length > 0) return `it still has applied changes (${left.map((c) => c.id).join(', ')})`;
  if (!r.state.finished) return 'it is unfinished';
  if (checkpointToUndo(r.state)) return 'its git checkpoint commit is still to be taken back';
  return undefined;
}

/** A snapshot a still-applied change's undo needs that the store does not have: its rollback would stop (exit 3). */
export interface MissingSnapshot {
  runId: string;
  changeId: string;
  digest: string;
  /** The file it restores (or the undo step's label). */
  what: string;
}

/** The snapshots still-applied changes need that are not in the store (for `status`, before anyone needs the rollback). */
export async function missingSnapshots(store: StateStore, runs: RunView[]): Promise<MissingSnapshot[]> {
  const needed = runs.flatMap((r) =>
    remaining(r.state).flatMap((c) =>
      c.inverses.flat().flatMap((step) => {
        const path = (step.params as { path?: unknown } | null)?.path;
        return snapshotDigests(step).map((digest) => ({ runId: r.state.runId, changeId: c.id, digest, what: typeof path === 'string' ? path : step.label }));
      }),
    ),
  );
  if (needed.length === 0) return [];
  const stored = new Set(await store.snapshots.list());
  return needed.filter((n) => !stored.has(n.digest));
}

export interface PruneResult {
  removedRuns: { runId: string; outcome?: string }[];
  keptRuns: { runId: string; why: string }[];
  snapshots: SnapshotCleanup;
}

/**
 * `history --prune N`: removes every run but the newest `keep`, except runs that still have
 * applied changes or are unfinished (said why), then the snapshots no remaining run needs.
 * Call with the lock held.
 */
export async function pruneRuns(store: StateStore, keep: number): Promise<PruneResult> {
  const runs = await allRuns(store);
  const older = runs.slice(0, Math.max(0, runs.length - keep));
  const result: PruneResult = { removedRuns: [], keptRuns: [], snapshots: { removed: [] } };
  const left: RunView[] = runs.slice(older.length);
  for (const r of older) {
    const why = mustKeep(r);
    if (why) {
      result.keptRuns.push({ runId: r.state.runId, why });
      left.push(r);
      continue;
    }
    await store.removeRun(r.state.runId);
    result.removedRuns.push({ runId: r.state.runId, outcome: r.state.outcome });
  }
  result.snapshots = await removeUnneededSnapshots(store, left);
  return result;
}
