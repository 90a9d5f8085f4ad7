import { closeSync, existsSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { fsyncDir } from '../../support/atomic-write.js';
import { bootId, holderIdentity, pidAlive, processStartTime } from '../../support/process-identity.js';
import { LockedError, type LockHandle, type LockHolder } from '../contract.js';

export { bootId, holderIdentity, pidAlive, processStartTime } from '../../support/process-identity.js';

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
  return holder.host === hostname() && (!pidAlive(holder.pid) || deadHolder(holder) !== undefined);
}

/**
 * Why the holder is provably dead, or undefined when it is not proven: it must have recorded
 * this host and this boot, and its pid must be gone (a zombie counts as gone) or now belong to
 * a process started at another time (the pid was reused).
 */
export function deadHolder(holder: LockHolder): string | undefined {
  if (holder.host !== hostname() || holder.boot === undefined || holder.boot !== bootId()) return undefined;
  if (!pidAlive(holder.pid)) return `pid ${holder.pid} is gone (same host and boot)`;
  const now = processStartTime(holder.pid);
  if (holder.startTime !== undefined && now !== undefined && now !== holder.startTime) return `pid ${holder.pid} now belongs to another process (started at tick ${now}, the holder at ${holder.startTime})`;
  return undefined;
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
  const record: LockHolder = { ...holder, since: new Date().toISOString(), ...(holder.pid === process.pid ? holderIdentity(process.pid) : {}) };
  let tookOver: LockHandle['tookOver'];
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
        const dead = current ? deadHolder(current) : undefined;
        if (current && dead && attempt < 5) {
          if (removeDeadLock(path, current)) tookOver = { holder: current, why: dead };
          continue;
        }
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
    ...(tookOver ? { tookOver } : {}),
    async release() {
      const current = readLock(path);
      if (current && current.pid === record.pid && current.since === record.since) rmSync(path, { force: true });
    },
  };
}

/**
 * Removes the lock file of a dead holder, and only that one: it is moved aside first (rename is
 * atomic, so of two processes taking over the same dead lock one moves it), and if what was
 * moved is not the dead holder's record (someone took the lock in between), it is put back.
 */
function removeDeadLock(path: string, dead: LockHolder): boolean {
  const aside = `${path}.dead.${process.pid}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  const moved = readLock(aside);
  if (moved && moved.pid === dead.pid && moved.since === dead.since) {
    rmSync(aside, { force: true });
    return true;
  }
  try {
    linkSync(aside, path);
  } catch (error) {
    // A third process took the lock meanwhile: it holds it now; the one moved aside was released by then or will find its lock gone.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(aside, { force: true });
  }
  return false;
}

export const UNKNOWN_HOLDER: LockHolder = { pid: 0, host: '?', user: '?', command: '?', since: '?' };

function lockedBy(current: LockHolder, unlockHint: string): LockedError {
  const stale = isStale(current);
  const message = stale
    ? `stale lock: held by ${describeHolder(current)}, but that process is gone. Check nothing is running, then clear it with: ${unlockHint}`
    : `locked by another run: ${describeHolder(current)}${current.host === hostname() ? '' : ' (another host: runbook cannot tell from here whether it still runs)'}; if no apply or rollback is running, clear it with: ${unlockHint} --force`;
  return new LockedError(current, stale, message);
}
