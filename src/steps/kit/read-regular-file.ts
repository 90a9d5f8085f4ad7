import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

function kind(st: { isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean; isDirectory(): boolean }): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * A file's bytes, or undefined when it does not exist. Anything but a regular file is refused
 * without reading: opening a FIFO waits for a writer forever, and a read stuck in Node's thread
 * pool cannot be cancelled (it even keeps the process from exiting).
 */
export async function readRegularFile(path: string): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new Error(`it is ${kind(st)}, not a regular file`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
