import { removeUnneededSnapshots } from '../../history/snapshots-needed.js';
import type { StateStore } from '../../state/contract.js';

/**
 * After a run was fully rolled back: removes the snapshots no run needs any more. A failure
 * here changes nothing about the rollback: it is said, and the next cleanup tries again.
 */
export async function cleanUpSnapshots(store: StateStore): Promise<void> {
  try {
    await removeUnneededSnapshots(store);
  } catch (error) {
    process.stderr.write(`warning: could not remove the snapshots no run needs any more (${(error as Error).message}); runbook history --prune removes them later\n`);
  }
}
