import { access, chmod, chown, constants, lstat, stat, statfs } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { removeFileDurably, writeFileAtomic } from '../../support/atomic-write.js';
import { StepFailedError } from '../contract.js';
import { placeSymlink, readEntry } from './file-snapshot.js';
import { runProcess } from './process.js';
import { readRegularFile } from './read-regular-file.js';
import type { Owner, PathInfo, Target } from './target.js';

async function findOnPath(name: string, pathVar: string): Promise<string | undefined> {
  const dirs = name.includes('/') ? [''] : pathVar.split(delimiter).filter(Boolean);
  for (const dir of dirs) {
    const candidate = dir === '' ? name : join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** This machine: node:fs and child processes. */
export function localTarget(runbookDir: string): Target {
  return {
    name: 'local',
    remote: false,
    workdir: async () => runbookDir,
    resolve: (dir, path) => resolve(dir, path),
    exec: runProcess,
    readFile: readRegularFile,
    readEntry,
    async info(path, follow): Promise<PathInfo | undefined> {
      try {
        const st = follow ? await stat(path) : await lstat(path);
        const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other';
        return { kind, ...(kind === 'file' ? { size: st.size } : {}), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new StepFailedError(`cannot read ${path}: ${(error as Error).message}`);
      }
    },
    writeFile: (path, bytes, mode, owner) => writeFileAtomic(path, bytes, mode, owner),
    remove: removeFileDurably,
    placeSymlink,
    chmod: (path, mode) => chmod(path, mode),
    async chown(path, owner: Owner) {
      try {
        await chown(path, owner.uid, owner.gid);
        return true;
      } catch {
        return false;
      }
    },
    async freeBytes(path) {
      const s = await statfs(path);
      return s.bavail * s.bsize;
    },
    findProgram: (name, pathVar) => findOnPath(name, pathVar ?? process.env.PATH ?? ''),
    async environment(names, env) {
      return Object.fromEntries(names.map((n) => [n, env[n]]));
    },
  };
}
