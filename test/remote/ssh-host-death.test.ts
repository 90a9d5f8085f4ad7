import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHost, type HostConnection } from '../../src/run/remote/ssh-target.js';
import { StepFailedError } from '../../src/steps/contract.js';
import { startSshHosts, type SshHosts } from '../../tools/ssh-hosts.js';

let fleet: SshHosts;
let frozen: SshHosts;
let controlDir: string;
let connection: HostConnection;

beforeAll(async () => {
  fleet = await startSshHosts(['dies-1'], { firstOctet: 72 });
  frozen = await startSshHosts(['hangs-1'], { firstOctet: 73 });
  controlDir = mkdtempSync(join(tmpdir(), 'rb-ctl-'));
  connection = await connectHost('dies-1', { sshConfig: fleet.sshConfig, controlDir });
});
afterAll(async () => {
  await connection?.close();
  fleet?.stop();
  frozen?.stop();
  rmSync(controlDir, { recursive: true, force: true });
});

describe('a host that dies mid-step', () => {
  it('fails the step with ssh`s reason, and later calls fail at once the same way', async () => {
    const running = connection.target.exec({ command: 'echo started; sleep 60', cwd: '/', env: {}, signal: new AbortController().signal, capture: true });
    await new Promise((r) => setTimeout(r, 700));
    const t0 = Date.now();
    fleet.stop(); // SIGKILL of the host's namespace: sshd and everything in it
    const error = await running.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepFailedError);
    expect((error as Error).message).toMatch(/^dies-1: connection lost: \S/);
    expect((error as StepFailedError).outputTail).toContain('started');
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(connection.lost()).toBeDefined();
    await expect(connection.target.readFile('/etc/hostname')).rejects.toThrow(/^dies-1: connection lost: /);
    await expect(connection.target.exec({ command: 'true', cwd: '/', env: {}, signal: new AbortController().signal })).rejects.toThrow(/^dies-1: connection lost: /);
  });

  it('a host that stops answering (no reset, nothing) fails the step within the keep-alive limit, with ssh`s reason', async () => {
    const c = await connectHost('hangs-1', { sshConfig: frozen.sshConfig, controlDir });
    try {
      const running = c.target.exec({ command: 'sleep 60', cwd: '/', env: {}, signal: new AbortController().signal });
      await new Promise((r) => setTimeout(r, 500));
      // Every sshd of the host frozen: its TCP connections stay open and silent.
      frozen.ssh('hangs-1', 'nohup sh -c "sleep 0.3; pkill -STOP sshd" >/dev/null 2>&1 &');
      const t0 = Date.now();
      const error = await running.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StepFailedError);
      expect((error as Error).message).toMatch(/^hangs-1: connection lost: Timeout, server .* not responding/);
      expect(Date.now() - t0).toBeLessThan(25_000);
    } finally {
      await c.close();
    }
  }, 40_000);
});
