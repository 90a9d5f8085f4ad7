import { randomBytes } from 'node:crypto';
import { open, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

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
 * Replaces `path` with `data` so that a crash leaves either the old bytes or the new ones:
 * a temp file in the same directory, fsync, rename over, fsync the directory. Keeps the
 * existing file's mode unless `mode` is given.
 */
export async function writeFileAtomic(link: string, data: Buffer | string, mode?: number): Promise<void> {
  // A symlink (nginx's sites-enabled) is written through: the file it points at changes.
  const path = await realpath(link).catch(() => link);
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.runbook-${randomBytes(4).toString('hex')}.tmp`);
  let targetMode = mode;
  if (targetMode === undefined) {
    try {
      targetMode = (await stat(path)).mode & 0o7777;
    } catch {
      targetMode = 0o644;
    }
  }
  const handle = await open(temp, 'wx', targetMode);
  try {
    await handle.writeFile(data);
    await handle.chmod(targetMode);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDir(dir);
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
