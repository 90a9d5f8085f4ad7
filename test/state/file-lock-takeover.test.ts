import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { fourChanges } from '../executor/fixture.js';
import { runCli, waitFor } from '../support/cli.js';
import { holdLockAs } from '../support/state-backend.js';

// The file backend's lock: a record of who holds it (pid, host, boot, process start time).
// PostgreSQL's advisory lock is freed by the server when its holder's session ends, so these
// cases exist only here (the executor suite covers takeover after kill -9 on both backends).

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('a lock whose holder is provably dead on this host is taken over; any other still refuses with exit 4', () => {
  const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const startTime = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
  };

  it('a pid reused by another process (start time differs) is taken over with one line; the right start time is a live holder: exit 4 with the exact unlock command', async () => {
    const sb = fourChanges();
    // process.pid is alive (this test), but the record says its process started at another time: the recorded holder is gone.
    const reused = await holdLockAs(sb.runbook, { pid: process.pid, host: hostname(), user: 'someone', command: 'runbook apply x', boot: bootId(), startTime: '1' });
    const r = runCli(['apply', sb.runbook]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^runbook: took over the lock left by pid ${process.pid} on ${escapeRegExp(hostname())} .*: pid ${process.pid} now belongs to another process \\(started at tick ${startTime(process.pid)}, the holder at 1\\)\n$`));
    await reused.release();

    const live = await holdLockAs(sb.runbook, { pid: process.pid, host: hostname(), user: 'someone', command: 'runbook apply x', boot: bootId(), startTime: startTime(process.pid) });
    const refused = runCli(['rollback', sb.runbook]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(new RegExp(`locked by another run: pid ${process.pid} .*; if no apply or rollback is running, clear it with: runbook unlock ${escapeRegExp(sb.runbook)} --force\n$`));
    expect(runCli(['status', sb.runbook]).stdout).toMatch(/lock: held by pid/);
    await live.release();
  });

  it('a zombie holder counts as gone; a holder of another boot or another host, or with no boot recorded, is not taken over', async () => {
    const sb = fourChanges();
    // A zombie: a forked child exits and its parent (perl, sleeping, never waiting) does not reap it.
    const { spawn } = await import('node:child_process');
    const parent = spawn('perl', ['-e', '$| = 1; my $pid = fork(); if ($pid == 0) { exit 0 } print "$pid\n"; sleep 20'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const pid = Number(await new Promise<string>((r) => parent.stdout.once('data', (d: Buffer) => r(d.toString()))));
    await waitFor(() => readFileSync(`/proc/${pid}/stat`, 'latin1').includes(') Z '));
    const zombieStart = startTime(pid);
    const zombie = await holdLockAs(sb.runbook, { pid, host: hostname(), user: 'someone', command: 'runbook apply x', boot: bootId(), startTime: zombieStart });
    const took = runCli(['apply', sb.runbook, '--only', 'change-1']);
    expect(took.code).toBe(0);
    expect(took.stderr).toMatch(new RegExp(`took over the lock left by pid ${pid} .*: pid ${pid} is gone \\(same host and boot\\)`));
    expect(readFileSync(`/proc/${pid}/stat`, 'latin1')).toContain(') Z '); // still there, a zombie, all along
    parent.kill('SIGKILL');
    await zombie.release();

    for (const [holder, refusal] of [
      [{ pid: 999999, host: hostname(), boot: 'another-boot' }, /stale lock: held by pid 999999 .* clear it with: runbook unlock/],
      [{ pid: 999999, host: hostname() }, /stale lock: held by pid 999999 .* clear it with: runbook unlock/],
      [{ pid: 999999, host: 'elsewhere.example', boot: bootId() }, /locked by another run: pid 999999 on elsewhere\.example .*another host.*runbook unlock \S+ --force/],
    ] as const) {
      const lock = await holdLockAs(sb.runbook, { user: 'someone', command: 'runbook apply x', ...holder });
      const r = runCli(['rollback', sb.runbook]);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(refusal);
      await lock.release();
    }
    expect(runCli(['rollback', sb.runbook]).code).toBe(0);
  });
});
