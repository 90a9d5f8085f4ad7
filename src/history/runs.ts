import { compareRuns } from '../model/run-id.js';
import { JournalCorruptError, type StateStore } from '../state/contract.js';
import { foldRun, remaining, type RunState } from './applied-state.js';

export interface RunView {
  state: RunState;
  torn: boolean;
  /** The journal has a damaged line: `state` is folded from the readable lines, for display only. */
  corrupt?: JournalCorruptError;
}

export async function readRunState(store: StateStore, runId: string): Promise<RunView> {
  try {
    const { events, torn } = await store.readRun(runId);
    return { state: foldRun(runId, events), torn };
  } catch (error) {
    if (!(error instanceof JournalCorruptError)) throw error;
    return { state: foldRun(runId, error.readable), torn: false, corrupt: error };
  }
}

/** All runs, oldest first (compareRuns, whatever order the backend lists them in), folded. */
export async function allRuns(store: StateStore): Promise<RunView[]> {
  const runs = (await store.listRuns()).sort(compareRuns);
  return Promise.all(runs.map((r) => readRunState(store, r.runId)));
}

/** A checkpoint commit to take back: nothing of its run is applied any more and its undo was not tried yet. */
export function checkpointToUndo(state: RunState): boolean {
  return state.checkpointCommit !== undefined && state.checkpointCommit.undone === undefined && remaining(state).length === 0;
}

/**
 * A run that leaves the system in a state nobody chose: it never finished (crash, kill -9),
 * a rollback of it failed or was cut short, or it stopped on a failure with changes applied;
 * or its git checkpoint commit is still to be taken back.
 */
export function isUnsettled(state: RunState): boolean {
  const left = remaining(state);
  if (left.length === 0) return checkpointToUndo(state);
  if (!state.finished) return true;
  if (left.some((c) => ['applying', 'failed', 'rolling-back', 'rollback-failed'].includes(c.status))) return true;
  return state.outcome === 'stopped' || state.outcome === 'rollback-failed' || state.outcome === 'interrupted';
}

/** The run `rollback` undoes by default: the newest that still has changes applied (or a checkpoint commit to take back). */
export function lastRunWithChanges(runs: RunView[]): RunView | undefined {
  return [...runs].reverse().find((r) => remaining(r.state).length > 0 || checkpointToUndo(r.state));
}
