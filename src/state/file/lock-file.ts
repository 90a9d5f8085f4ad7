import { closeSync, existsSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { fsyncDir } from '../../support/atomic-write.js';
import { LockedError, type LockHandle, type LockHolder } from '../contract.js';

/** Whether the process runs. A zombie (killed, not yet reaped by its parent) does not: it holds nothing any more. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/** Linux: the state field of /proc/<pid>/stat, after the command name (which may hold spaces and parentheses). */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

export type LockRead = { holder: LockHolder } | { unreadable: string } | null;

/** The lock's holder; null when there is no lock; `unreadable` (with why) when a lock file is there but not one runbook wrote. */
export function readLockFile(path: string): LockRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { unreadable: (error as Error).message };
  }
  try {
    const holder = JSON.parse(text) as LockHolder;
    if (typeof holder?.pid === 'number' && typeof holder.host === 'string') return { holder };
  } catch {
    // not JSON: reported below
  }
  return { unreadable: text.trim() === '' ? 'it is empty' : `it does not hold a runbook lock record (starts with ${JSON.stringify(text.slice(0, 40))})` };
}

export function readLock(path: string): LockHolder | null {
  const read = readLockFile(path);
  return read && 'holder' in read ? read.holder : null;
}

export function isStale(holder: LockHolder): boolean {
  return holder.host === hostname() && !pidAlive(holder.pid);
}

export function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} on ${h.host} (user ${h.user}, "${h.command}") since ${h.since}`;
}

/**
 * Takes the lock file, refusing with the holder named (and stale locks flagged). The record is
 * written and fsynced under a private name first and then hard-linked into place: link() is
 * atomic and fails when the lock exists, so a competitor never sees a lock without its holder.
 */
export async function acquireLockFile(path: string, holder: Omit<LockHolder, 'since'>, unlockHint: string): Promise<LockHandle> {
  const record: LockHolder = { ...holder, since: new Date().toISOString() };
  const draft = `${path}.${process.pid}.tmp`;
  const fd = openSync(draft, 'w', 0o644);
  try {
    writeSync(fd, JSON.stringify(record) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    // A lock released between our link() and our read of it is simply taken on the next try.
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(draft, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const current = readLock(path);
        if (current) throw lockedBy(current, unlockHint);
        if (attempt < 3 && !existsSync(path)) continue;
        const read = readLockFile(path);
        const why = read && 'unreadable' in read ? read.unreadable : 'unreadable';
        throw new LockedError(UNKNOWN_HOLDER, false, `locked: the lock file ${path} is unreadable (${why}); if no apply or rollback is running, remove it with: ${unlockHint} --force`);
      }
    }
  } finally {
    rmSync(draft, { force: true });
  }
  await fsyncDir(dirname(path));
  return {
    async release() {
      const current = readLock(path);
      if (current && current.pid === record.pid && current.since === record.since) rmSync(path, { force: true });
    },
  };
}

export const UNKNOWN_HOLDER: LockHolder = { pid: 0, host: '?', user: '?', command: '?', since: '?' };

function lockedBy(current: LockHolder, unlockHint: string): LockedError {
  const stale = isStale(current);
  const message = stale
    ? `stale lock: held by ${describeHolder(current)}, but that process is gone. Check nothing is running, then clear it with: ${unlockHint}`
    : `locked by another run: ${describeHolder(current)}`;
  return new LockedError(current, stale, message);
}
