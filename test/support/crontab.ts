import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { atProcessEnd } from '../../tools/throwaway.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const LOCK = '/tmp/runbook-test-crontab.lock';

export function crontabText(): { text: string; exists: boolean } {
  const r = spawnSync('crontab', ['-l'], { encoding: 'utf8' });
  if (r.error) throw new Error(`the crontab command is not available (${r.error.message}): npm test installs it (scripts/prerequisites.mjs), or apt-get install cron`);
  return { text: r.stdout, exists: r.status === 0 };
}

function restore(saved: { text: string; exists: boolean }): void {
  if (saved.exists) spawnSync('crontab', ['-'], { input: saved.text });
  else spawnSync('crontab', ['-r']);
}

/**
 * A test run that died holding the lock never put the crontab back: do it for it, from what it
 * saved in the lock. Two waiters may both see the dead holder; a second lock (the guard) lets
 * only one act, and only while the lock still names that holder — never on a lock retaken since.
 */
function takeOverFromDeadHolder(holder: number): void {
  const guard = `${LOCK}.takeover`;
  try {
    mkdirSync(guard);
  } catch {
    // Another waiter is taking over; a guard left by a waiter killed meanwhile expires.
    try {
      if (Date.now() - statSync(guard).mtimeMs > 10_000) rmSync(guard, { recursive: true, force: true });
    } catch {
      // gone already
    }
    return;
  }
  try {
    if (Number(readFileSync(`${LOCK}/pid`, 'utf8') || 0) !== holder) return;
    try {
      restore(JSON.parse(readFileSync(`${LOCK}/saved.json`, 'utf8')) as { text: string; exists: boolean });
      process.stderr.write(`restored the crontab that test process ${holder} changed and could not put back (it was killed)\n`);
    } catch {
      // it died before it changed anything
    }
    rmSync(LOCK, { recursive: true, force: true });
  } catch {
    // the lock is gone: nothing to take over
  } finally {
    rmSync(guard, { recursive: true, force: true });
  }
}

/**
 * The machine's crontab is one shared thing: tests that touch it take this lock (test files
 * run in parallel), start from an empty table, and put the machine's crontab back afterwards —
 * also when the test process is stopped by a signal, and, should it be killed, the next test
 * that takes the lock puts it back from what it saved in the lock.
 */
export async function withCrontab<T>(fn: () => Promise<T> | T): Promise<T> {
  const end = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(`${LOCK}/pid`, String(process.pid));
      break;
    } catch {
      const holder = Number(readFileSync(`${LOCK}/pid`, { encoding: 'utf8', flag: 'a+' }) || 0);
      if (holder && !alive(holder)) takeOverFromDeadHolder(holder);
      if (Date.now() > end) throw new Error(`timed out waiting for ${LOCK}, held by process ${holder}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let saved: { text: string; exists: boolean } | undefined;
  let putBack = () => {};
  const forget = atProcessEnd(() => putBack());
  try {
    saved = crontabText();
    writeFileSync(`${LOCK}/saved.json`, JSON.stringify(saved));
    const before = saved;
    putBack = () => {
      restore(before);
      rmSync(LOCK, { recursive: true, force: true });
    };
    spawnSync('crontab', ['-r']);
    return await fn();
  } finally {
    forget();
    if (saved) restore(saved);
    rmSync(LOCK, { recursive: true, force: true });
  }
}
