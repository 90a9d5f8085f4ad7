/**
 * Everything needed to take a checkpoint commit back, journaled (fsynced) before the commit
 * is made: HEAD and its branch before, the operator's index as a tree, and the tree the
 * checkpoint commits.
 */
export interface CheckpointRecord {
  dir: string;
  message: string;
  /** HEAD before the checkpoint; null when the branch had no commit yet. */
  head: string | null;
  /** The branch HEAD was on (`refs/heads/…`); null when detached. */
  branch: string | null;
  /** The index before the checkpoint, as a tree (`git write-tree`). */
  index: string;
  /** The tree the checkpoint commits: the work tree, minus ignored and excluded files. */
  tree: string;
  /** Pathspecs left out of the checkpoint. */
  exclude: string[];
}
