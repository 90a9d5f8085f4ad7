import { hostname, userInfo } from 'node:os';
import type { StateStore } from '../../state/contract.js';
import { describeHolder } from '../../state/file/lock-file.js';

/** Runs `fn` holding the state's lock (refused with LockedError, exit 4, when another run holds it). */
export async function withLock<T>(store: StateStore, command: string, runId: string | undefined, fn: () => Promise<T>): Promise<T> {
  const lock = await store.lock({ pid: process.pid, host: hostname(), user: userInfo().username, command, runId });
  if (lock.tookOver) process.stderr.write(`runbook: took over the lock left by ${describeHolder(lock.tookOver.holder)}: ${lock.tookOver.why}\n`);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
