import type { StateStore } from '../state/contract.js';
import { changeKey, remaining } from './applied-state.js';
import { allRuns, checkpointToUndo, type RunView } from './runs.js';
import { removeUnneededSnapshots, type SnapshotCleanup } from './snapshots-needed.js';

/** Why a run must stay in the history, or undefined when it may go. */
function mustKeep(r: RunView): string | undefined {
  if (r.corrupt) return 'its journal is damaged';
  const left = remaining(r.state);
  if (left.length > 0) return `it still has applied changes (${left.map(changeKey).join(', ')})`;
  if (!r.state.finished) return 'it is unfinished';
  if (checkpointToUndo(r.state)) return 'its git checkpoint commit is still to be taken back';
  return undefined;
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
