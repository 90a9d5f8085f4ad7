import { open, realpath, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsyncs a directory so a rename or a new file in it survives a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` so that a crash leaves either the old bytes or the new ones (write-file-atomic:
 * a temp file beside it, fsync, rename over; owner and mode kept unless given, a symlink written through),
 * then fsyncs the directory so the rename itself survives a power loss.
 */
export async function writeFileAtomic(path: string, data: Buffer | string, mode?: number, owner?: { uid: number; gid: number }): Promise<void> {
  // Loaded on first write: `plan` and `validate` load every step module and never write (~10 ms of start-up).
  const { default: writeFileAtomicPackage } = await import('write-file-atomic');
  await writeFileAtomicPackage(path, data, { ...(mode === undefined ? {} : { mode }), ...(owner ? { chown: owner } : {}) });
  await fsyncDir(dirname(await realpath(path)));
}

/** Deletes `path` (if present) durably. */
export async function removeFileDurably(path: string): Promise<boolean> {
  try {
    await rm(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  await fsyncDir(dirname(path));
  return true;
}
