import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HostLockedError } from '../../src/run/remote/errors.js';
import { killOrphanedClient } from '../../src/run/remote/orphans.js';
import { connectHost, type HostConnection } from '../../src/run/remote/ssh-target.js';
import { StepFailedError } from '../../src/steps/contract.js';
import type { ProcessRequest } from '../../src/steps/kit/target.js';
import { startSshHosts, type SshHosts } from '../../tools/ssh-hosts.js';

let fleet: SshHosts;
let controlDir: string;
const open: HostConnection[] = [];

beforeAll(async () => {
  fleet = await startSshHosts(['exec-1', 'exec-2'], { firstOctet: 60 });
  controlDir = mkdtempSync(join(tmpdir(), 'rb-ctl-'));
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});
afterAll(() => {
  fleet?.stop();
  rmSync(controlDir, { recursive: true, force: true });
});

async function connect(host: string, lock = false, runId = `run-${process.pid}`, reclaim = false): Promise<HostConnection> {
  const c = await connectHost(host, { sshConfig: fleet.sshConfig, controlDir, ...(lock ? { lock: { runId, user: 'tester', host: 'control', pid: process.pid, command: 'vitest', reclaim } } : {}) });
  open.push(c);
  return c;
}

const req = (r: Partial<ProcessRequest>): ProcessRequest => ({ cwd: '/', env: {}, signal: new AbortController().signal, capture: true, ...r });

/** Polls `command` on the host until its output is empty (or the time runs out). */
async function untilNothing(host: string, command: string, ms = 8000): Promise<string> {
  const deadline = Date.now() + ms;
  let out = '';
  while (Date.now() < deadline) {
    out = fleet.ssh(host, command).stdout.trim();
    if (out === '') return out;
    await new Promise((r) => setTimeout(r, 150));
  }
  return out;
}

describe('exec on a host over ssh', () => {
  it('a connection holding the host lock still knows the login directory: steps without cwd run there', async () => {
    const { target } = await connect('exec-1', true, `run-wd-${process.pid}`);
    expect(await target.workdir()).toBe('/root');
    const r = await target.exec(req({ command: 'pwd', cwd: await target.workdir() }));
    expect([r.exitCode, r.stdout]).toEqual([0, '/root\n']);
  });

  it('runs a shell command with bash pipefail in cwd, with the step variables and input, and reports output and exit code', async () => {
    const { target } = await connect('exec-1');
    const chunks: string[] = [];
    const r = await target.exec(
      req({ command: 'pwd; echo "$GREETING"; false | true; echo "pipefail=$?"; cat; echo oops >&2; exit 7', cwd: '/srv', env: { GREETING: 'hello there' }, input: 'line one\nline two', onOutput: (c) => chunks.push(c) }),
    );
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toBe('/srv\nhello there\npipefail=1\nline one\nline two');
    expect(r.stderr).toBe('oops\n');
    expect(r.tail).toContain('oops');
    expect(chunks.join('')).toContain('hello there');
    expect((await target.exec(req({ argv: ['printf', '%s|', 'a b', '$(x)'] }))).stdout).toBe('a b|$(x)|');
    expect((await target.exec(req({ command: 'exit 0' }))).exitCode).toBe(0);
    expect(await target.workdir()).toBe('/root');
  });

  it('passes secrets in env and input over stdin: the host`s ps never shows them while the command runs', async () => {
    const { target } = await connect('exec-1');
    const secret = `s3cr3t-${process.pid}-value`;
    const running = target.exec(req({ command: 'read -r line; sleep 2; test "$line" = "$TOKEN" && echo same', env: { TOKEN: secret }, input: `${secret}\n` }));
    await new Promise((r) => setTimeout(r, 900));
    const ps = fleet.ssh('exec-1', 'ps -eo args; cat /proc/[0-9]*/cmdline | tr "\\0" " "');
    expect(ps.stdout).toContain('sleep 2');
    expect(ps.stdout).not.toContain(secret);
    expect((await running).stdout).toBe('same\n');
  });

  it('a timeout kills the remote process group, and the host`s shell session runs the next step: nothing is left on the host', async () => {
    const { target } = await connect('exec-1');
    const ac = new AbortController();
    let clientPid = 0;
    const running = target.exec(req({ command: 'sleep 301 & sleep 302 & trap "" TERM; sleep 303', signal: ac.signal, onSpawn: (pid) => (clientPid = pid) }));
    await new Promise((r) => setTimeout(r, 800));
    expect(fleet.ssh('exec-1', 'pgrep -c -f "sleep 30[123]"').stdout.trim()).toBe('3');
    const t0 = Date.now();
    ac.abort(new Error('timed out after 1 s'));
    const error = await running.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepFailedError);
    expect((error as StepFailedError).timedOut).toBe(true);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(await untilNothing('exec-1', 'pgrep -f "sleep 30[123]"')).toBe('');
    // The session lives on: the next step runs over the same ssh client.
    let nextPid = 0;
    const next = await target.exec(req({ command: 'echo next', onSpawn: (pid) => (nextPid = pid) }));
    expect([next.exitCode, next.stdout]).toEqual([0, 'next\n']);
    expect(clientPid).toBeGreaterThan(0);
    expect(nextPid).toBe(clientPid);
  });

  it('an abort that comes as the step starts still ends it with TERM, not only the KILL 2 s later', async () => {
    const { target } = await connect('exec-1');
    for (let i = 0; i < 3; i++) {
      const ac = new AbortController();
      const t0 = Date.now();
      // Aborted as the request leaves: the abort follows it on the channel at once.
      const running = target.exec(req({ command: 'sleep 307', signal: ac.signal, onSpawn: () => ac.abort(new Error('interrupted')) }));
      await expect(running).rejects.toThrow(StepFailedError);
      expect(Date.now() - t0).toBeLessThan(1800);
    }
    expect(await untilNothing('exec-1', 'pgrep -f "sleep 307"')).toBe('');
    expect((await target.exec(req({ command: 'echo still here' }))).stdout).toBe('still here\n');
  });

  it('steps of one host run one after another on one shell session, without an ssh session each', async () => {
    const { target } = await connect('exec-1');
    const pids = new Set<number>();
    for (let i = 0; i < 20; i++) expect((await target.exec(req({ argv: ['printf', '%s', `${i}`], onSpawn: (pid) => pids.add(pid) }))).stdout).toBe(`${i}`);
    expect(pids.size).toBe(1);
    // Each step still has a process group of its own, led by its command.
    const r = await target.exec(req({ command: 'ps -o pgid= -p $$; echo $$' }));
    const [pgid, pid] = r.stdout.trim().split(/\s+/);
    expect(pgid).toBe(pid);
  });

  it('two operations on one host at once each get a shell: outputs, exit codes and files stay apart', async () => {
    const { target } = await connect('exec-1');
    const [a, b, file] = await Promise.all([
      target.exec(req({ command: 'sleep 0.3; echo a; echo a-err >&2; exit 3' })),
      target.exec(req({ command: 'echo b; echo b-err >&2; exit 4' })),
      target.writeFile('/srv/concurrent.txt', Buffer.from('c\n')).then(() => target.readFile('/srv/concurrent.txt')),
    ]);
    expect([a.exitCode, a.stdout, a.stderr]).toEqual([3, 'a\n', 'a-err\n']);
    expect([b.exitCode, b.stdout, b.stderr]).toEqual([4, 'b\n', 'b-err\n']);
    expect(file?.toString()).toBe('c\n');
  });

  it('a step cannot forge the end of its output: marker-like bytes, a record separator, exit code 255 are its own', async () => {
    const { target } = await connect('exec-1');
    const fake = "printf '\\036%s:0\\n\\036%s\\n' 0123456789abcdef0123456789abcdef 0123456789abcdef0123456789abcdef";
    const r = await target.exec(req({ command: `${fake}; ${fake} >&2; printf 'x\\036'; exit 255` }));
    const marker = '\x1e0123456789abcdef0123456789abcdef:0\n\x1e0123456789abcdef0123456789abcdef\n';
    expect(r.exitCode).toBe(255);
    expect(r.stdout).toBe(`${marker}x\x1e`);
    expect(r.stderr).toBe(marker);
    const killed = await target.exec(req({ command: 'kill -KILL $$' }));
    expect(killed.exitCode).toBe(137);
    expect((await target.exec(req({ command: 'echo alive' }))).stdout).toBe('alive\n');
  });

  it('a session ends as soon as its command does (no watchdog left holding the channel)', async () => {
    const { target } = await connect('exec-1');
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) expect((await target.exec(req({ argv: ['printf', '%s', `${i}`] }))).stdout).toBe(`${i}`);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('what a command leaves behind in its group ends with it, even when it ignores TERM', async () => {
    const { target } = await connect('exec-1');
    const t0 = Date.now();
    const r = await target.exec(req({ command: "(trap '' TERM; exec sleep 304) & sleep 305 & echo started" }));
    expect(r.stdout).toBe('started\n');
    // TERM, then KILL 2 s later for what ignores TERM (it holds the output open until then).
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(await untilNothing('exec-1', 'pgrep -f "sleep 30[45]"')).toBe('');
  });

  it('killing the ssh client of a command (as a rollback kills an orphan) ends the command on the host', async () => {
    const { target } = await connect('exec-1');
    let clientPid = 0;
    const running = target.exec(req({ command: 'sleep 306', onSpawn: (pid) => (clientPid = pid) }));
    await new Promise((r) => setTimeout(r, 700));
    expect(fleet.ssh('exec-1', 'pgrep -f "sleep 306"').stdout.trim()).not.toBe('');
    expect(killOrphanedClient(clientPid)).toBe(true);
    expect((await running).exitCode).not.toBe(0);
    expect(await untilNothing('exec-1', 'pgrep -f "sleep 306"')).toBe('');
  });

  it('a killed control node leaves nothing on the host and releases the host lock', async () => {
    const script = join(import.meta.dirname, 'hold-host.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', script, fleet.sshConfig, controlDir, 'exec-2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [clientPid, masterPid] = await new Promise<[number, number]>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /running (\d+) (\d+)/.exec(out);
        if (m) resolve([Number(m[1]), Number(m[2])]);
      });
      child.once('exit', () => reject(new Error(`hold-host ended: ${err}`)));
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(fleet.ssh('exec-2', 'pgrep -f "sleep 300"').stdout.trim()).not.toBe('');
    await expect(connect('exec-2', true)).rejects.toThrow(/exec-2 is locked by another run: run killed-run, pid \d+ on control, user tester/);
    expect(killOrphanedClient(process.pid)).toBe(false); // not an ssh client of ours
    child.kill('SIGKILL');
    // The host needs no help: the channel's stdin closed with the killed process.
    expect(await untilNothing('exec-2', 'pgrep -f "sleep 300"')).toBe('');
    // What a later rollback does with the journaled pid of the killed run's ssh client (gone by now, or killed).
    killOrphanedClient(clientPid);
    expect(await untilGone(clientPid)).toBe(true);
    const deadline = Date.now() + 8000;
    while (Date.now() < deadline && alive(masterPid)) await new Promise((r) => setTimeout(r, 100));
    expect(alive(masterPid)).toBe(false);
    const again = await connect('exec-2', true);
    expect(again.lockPath).toBe('/run/lock/runbook-root.lock');
  });

  it('the rollback of a run takes over the lock its dead control node`s connection still holds on the host, another run cannot', async () => {
    const first = await connect('exec-2', true, 'run-reclaimed');
    // A control node gone without closing its connection (power loss, partition): frozen here, its TCP connection stays up.
    process.kill(first.masterPid, 'SIGSTOP');
    try {
      await expect(connect('exec-2', true, 'run-reclaimed')).rejects.toThrow(HostLockedError);
      await expect(connect('exec-2', true, 'another-run', true)).rejects.toThrow(/exec-2 is locked by another run: run run-reclaimed/);
      const rollback = await connect('exec-2', true, 'run-reclaimed', true);
      expect(rollback.lockPath).toBe('/run/lock/runbook-root.lock');
      expect(fleet.ssh('exec-2', 'cat /run/lock/runbook-root.lock.holder').stdout).toContain('"runId":"run-reclaimed"');
      await expect(connect('exec-2', true, 'another-run')).rejects.toThrow(HostLockedError);
    } finally {
      process.kill(first.masterPid, 'SIGKILL');
    }
  });

  it('two connections asking for the lock of one host: the second gets HostLockedError naming the first', async () => {
    const first = await connect('exec-1', true);
    const error = await connect('exec-1', true).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostLockedError);
    expect((error as HostLockedError).holder).toMatchObject({ runId: `run-${process.pid}`, pid: process.pid, user: 'tester', host: 'control' });
    expect((error as Error).message).toMatch(new RegExp(`^exec-1 is locked by another run: run run-${process.pid}, pid ${process.pid} on control, user tester, since \\S+, command: vitest`));
    expect((error as HostLockedError).remotePid).toBeGreaterThan(1);
    // Another host is not locked by it; and once the first closes, the lock is free.
    await connect('exec-2', true);
    await first.close();
    await connect('exec-1', true);
  });
});

async function untilGone(pid: number, ms = 8000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && alive(pid)) await new Promise((r) => setTimeout(r, 100));
  return !alive(pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
