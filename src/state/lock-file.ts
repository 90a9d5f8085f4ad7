import { hostname } from 'node:os';
import { closeSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { LockedError, type LockHandle, type LockHolder } from './contract.js';

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readLock(path: string): LockHolder | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
  } catch {
    return null;
  }
}

export function isStale(holder: LockHolder): boolean {
  return holder.host === hostname() && !pidAlive(holder.pid);
}

export function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} on ${h.host} (user ${h.user}, "${h.command}") since ${h.since}`;
}

/** Takes the lock file with O_EXCL; refuses with the holder named (and stale locks flagged). */
export function acquireLockFile(path: string, holder: Omit<LockHolder, 'since'>, unlockHint: string): LockHandle {
  const record: LockHolder = { ...holder, since: new Date().toISOString() };
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const current = readLock(path);
    if (!current) {
      throw new LockedError({ pid: 0, host: '?', user: '?', command: '?', since: '?' }, false, `locked: ${path} exists but is unreadable (another run is starting?); if no run is active, remove it with: ${unlockHint}`);
    }
    const stale = isStale(current);
    const message = stale
      ? `stale lock: held by ${describeHolder(current)}, but that process is gone. Check nothing is running, then clear it with: ${unlockHint}`
      : `locked by another run: ${describeHolder(current)}`;
    throw new LockedError(current, stale, message);
  }
  writeSync(fd, JSON.stringify(record) + '\n');
  fsyncSync(fd);
  closeSync(fd);
  return {
    async release() {
      const current = readLock(path);
      if (current && current.pid === record.pid && current.since === record.since) rmSync(path, { force: true });
    },
  };
}
