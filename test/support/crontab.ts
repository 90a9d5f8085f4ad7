import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

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
 * The machine's crontab is one shared thing: tests that touch it take this lock (test files
 * run in parallel), start from an empty table, and put the machine's crontab back afterwards.
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
      if (holder && !alive(holder)) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > end) throw new Error(`timed out waiting for ${LOCK}, held by process ${holder}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let saved: { text: string; exists: boolean } | undefined;
  try {
    saved = crontabText();
    spawnSync('crontab', ['-r']);
    return await fn();
  } finally {
    if (saved) restore(saved);
    rmSync(LOCK, { recursive: true, force: true });
  }
}
