import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** sun_path is 108 bytes; ssh binds `<path>.<16 random chars>` first, then renames it. */
const SOCKET_PATH_MAX = 107 - 17;

/**
 * A fresh control socket path in `dir`, made private (0700, ours) if it does not exist and
 * refused if anyone else could reach into it.
 */
export function controlPathIn(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (st.mode & 0o077) !== 0 || (uid !== undefined && st.uid !== uid)) {
    throw new Error(`the ssh control directory ${dir} must be a directory of ours that nobody else can enter (mode 0700); it is ${(st.mode & 0o7777).toString(8)}`);
  }
  const path = join(dir, `m-${randomBytes(4).toString('hex')}`);
  if (Buffer.byteLength(path) > SOCKET_PATH_MAX) throw new Error(`the ssh control directory ${dir} is too long for a socket path (at most ${SOCKET_PATH_MAX - 11} bytes)`);
  return path;
}
