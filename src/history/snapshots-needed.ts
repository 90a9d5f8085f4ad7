import { snapshotDigests } from '../model/snapshot.js';
import type { StateStore } from '../state/contract.js';
import { changeKey, remaining } from './applied-state.js';
import { allRuns, type RunView } from './runs.js';

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
        return snapshotDigests(step).map((digest) => ({ runId: r.state.runId, changeId: changeKey(c), digest, what: typeof path === 'string' ? path : step.label }));
      }),
    ),
  );
  if (needed.length === 0) return [];
  const stored = new Set(await store.snapshots.list());
  return needed.filter((n) => !stored.has(n.digest));
}
