import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ownThrowaway } from '../../tools/throwaway.js';

/** Where cron keeps user crontabs (Debian's cron; `crontab` has it compiled in). */
const SPOOL = '/var/spool/cron/crontabs';

let privateSpool: string | undefined;

function realCrontab(): string {
  const r = spawnSync('sh', ['-c', 'command -v crontab'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) throw new Error('the crontab command is not available: npm test installs it (scripts/prerequisites.mjs), or apt-get install cron');
  return path;
}

/**
 * Gives this test process a cron spool of its own, as each test host has: first on PATH, a
 * `crontab` that runs the real one in a mount namespace of its own where the process's spool
 * is bind-mounted over the machine's. This process and every process it starts (the CLI, its
 * cron steps, a rollback) then read and write one real crontab that no other test file sees,
 * and the machine's own crontab is never touched: test files run in parallel without waiting
 * for one another, and a test killed mid-way leaves nothing to put back (the spool is removed
 * when this process ends, or by the next test process if it was killed).
 */
function usePrivateSpool(): void {
  if (privateSpool) return;
  const crontab = realCrontab();
  const dir = mkdtempSync(join(tmpdir(), 'runbook-test-cron-'));
  ownThrowaway('a private cron spool', [dir], []);
  const spool = join(dir, 'crontabs');
  mkdirSync(spool);
  chmodSync(spool, 0o1730);
  spawnSync('chgrp', ['crontab', spool]);
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'crontab'),
    `#!/bin/sh\nexec unshare --mount --propagation private -- /bin/sh -c 'mount --bind -- "$0" ${SPOOL} && exec ${crontab} "$@"' ${JSON.stringify(spool)} "$@"\n`,
    { mode: 0o755 },
  );
  process.env.PATH = `${bin}${delimiter}${process.env.PATH ?? ''}`;
  privateSpool = spool;
}

/** This test process's own cron spool (made on first use). */
export function privateCronSpool(): string {
  usePrivateSpool();
  return privateSpool!;
}

export function crontabText(): { text: string; exists: boolean } {
  usePrivateSpool();
  const r = spawnSync('crontab', ['-l'], { encoding: 'utf8' });
  if (r.error) throw new Error(`the crontab command is not available (${r.error.message}): npm test installs it (scripts/prerequisites.mjs), or apt-get install cron`);
  return { text: r.stdout, exists: r.status === 0 };
}

/**
 * Runs `fn` against this test process's own crontab (see usePrivateSpool), starting from an
 * empty table.
 */
export async function withCrontab<T>(fn: () => Promise<T> | T): Promise<T> {
  usePrivateSpool();
  spawnSync('crontab', ['-r']);
  return await fn();
}
