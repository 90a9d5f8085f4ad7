import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostUnreachableError } from '../../src/run/remote/errors.js';
import { connectHost } from '../../src/run/remote/ssh-target.js';
import { startSshHosts, type SshHosts } from '../../tools/ssh-hosts.js';

let fleet: SshHosts;
let dir: string;
let sshConfig: string;

beforeAll(async () => {
  fleet = await startSshHosts(['conn-1'], { firstOctet: 68 });
  dir = mkdtempSync(join(tmpdir(), 'rb-conn-'));
  writeFileSync(join(dir, 'empty_known_hosts'), '');
  // Aliases for what goes wrong, in front of the fleet's own config (ssh takes the first value it reads).
  sshConfig = join(dir, 'ssh_config');
  writeFileSync(
    sshConfig,
    [
      'Host web-2',
      '  HostName 127.0.0.70', // nothing listens there
      'Host stranger',
      '  HostName 127.0.0.68',
      `  UserKnownHostsFile ${join(dir, 'empty_known_hosts')}`,
      'Host nobody-here',
      '  HostName 127.0.0.68',
      '  User no-such-user',
      'Host behind-jump',
      '  HostName 127.0.0.68',
      '  ProxyJump conn-1',
      'Host *',
      `Include ${fleet.sshConfig}`,
      '',
    ].join('\n'),
  );
});
afterAll(() => {
  fleet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function unreachable(host: string): Promise<{ error: HostUnreachableError; ms: number }> {
  const t0 = Date.now();
  const error = await connectHost(host, { sshConfig, controlDir: join(dir, 'ctl'), connectTimeoutMs: 3000 }).then(
    () => {
      throw new Error(`${host} was reached`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HostUnreachableError);
  return { error: error as HostUnreachableError, ms: Date.now() - t0 };
}

describe('connecting to a host', () => {
  it('an unreachable host fails fast with one line: the host and ssh`s own error', async () => {
    const { error, ms } = await unreachable('web-2');
    expect(error.message).toBe('web-2: ssh: connect to host 127.0.0.70 port 22: Connection refused');
    expect(ms).toBeLessThan(3000);
  });

  it('an unknown host key and a refused login fail the same way: host-key checking is never weakened', async () => {
    const key = await unreachable('stranger');
    expect(key.error.message).toBe('stranger: Host key verification failed.');
    const auth = await unreachable('nobody-here');
    expect(auth.error.message).toMatch(/^nobody-here: no-such-user@127\.0\.0\.68: Permission denied \(publickey\)\.$/);
    expect(readdirSync(join(dir, 'ctl'))).toEqual([]);
  });

  it('keeps its control socket in a private directory, and close() leaves no process or socket behind', async () => {
    const controlDir = join(dir, 'private');
    const c = await connectHost('conn-1', { sshConfig, controlDir });
    expect(statSync(controlDir).mode & 0o777).toBe(0o700);
    expect(existsSync(c.controlPath)).toBe(true);
    expect((await c.target.exec({ command: 'hostname', cwd: '/', env: {}, signal: new AbortController().signal, capture: true })).stdout).toBe('conn-1\n');
    await c.close();
    expect(() => process.kill(c.masterPid, 0)).toThrow();
    expect(existsSync(c.controlPath)).toBe(false);
    expect(c.lost()).toBeDefined();
    await c.close();
  });

  it('connects when a login script prints something first', async () => {
    expect(fleet.ssh('conn-1', 'echo "echo hello from bashrc" > /root/.bashrc').status).toBe(0);
    try {
      const c = await connectHost('conn-1', { sshConfig, controlDir: join(dir, 'ctl') });
      expect(await c.target.workdir()).toBe('/root');
      await c.target.writeFile('/srv/chatty', Buffer.from('exact'));
      expect(await c.target.readFile('/srv/chatty')).toEqual(Buffer.from('exact'));
      expect((await c.target.exec({ command: 'hostname', cwd: '/', env: {}, signal: new AbortController().signal, capture: true })).stdout).toBe('conn-1\n');
      await c.close();
    } finally {
      fleet.ssh('conn-1', 'rm -f /root/.bashrc');
    }
  });

  it('reaches a host through a ProxyJump of the user`s ssh_config', async () => {
    const c = await connectHost('behind-jump', { sshConfig, controlDir: join(dir, 'ctl') });
    expect((await c.target.exec({ command: 'echo "$SSH_CONNECTION"', cwd: '/', env: {}, signal: new AbortController().signal, capture: true })).stdout).toMatch(/^127\.0\.0\.\d+ \d+ 127\.0\.0\.68 22\n$/);
    await c.close();
  });

  it('an abort while connecting stops at once and leaves no ssh behind', async () => {
    const ac = new AbortController();
    const connecting = connectHost('conn-1', { sshConfig, controlDir: join(dir, 'ctl'), signal: ac.signal });
    ac.abort(new Error('interrupted'));
    await expect(connecting).rejects.toThrow('interrupted');
    expect(readdirSync(join(dir, 'ctl'))).toEqual([]);
  });

  it('refuses a control directory others can enter, and a destination ssh would read as an option', async () => {
    const open = join(dir, 'open');
    await connectHost('conn-1', { sshConfig, controlDir: open }).then((c) => c.close());
    const { chmodSync } = await import('node:fs');
    chmodSync(open, 0o755);
    await expect(connectHost('conn-1', { sshConfig, controlDir: open })).rejects.toThrow(/must be a directory of ours that nobody else can enter/);
    await expect(connectHost('-oProxyCommand=touch /tmp/pwned', { sshConfig, controlDir: join(dir, 'ctl') })).rejects.toThrow(/not an ssh destination/);
    await expect(connectHost('conn-1', { sshConfig, controlDir: join(dir, 'x'.repeat(120)) })).rejects.toThrow(/too long for a socket path/);
  });
});
