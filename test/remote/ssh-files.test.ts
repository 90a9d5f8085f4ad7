import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHost, type HostConnection } from '../../src/run/remote/ssh-target.js';
import { StepFailedError } from '../../src/steps/contract.js';
import type { Target } from '../../src/steps/kit/target.js';
import { startSshHosts, type SshHosts } from '../../tools/ssh-hosts.js';

let fleet: SshHosts;
let controlDir: string;
let connection: HostConnection;
let target: Target;

beforeAll(async () => {
  fleet = await startSshHosts(['files-1'], { firstOctet: 64 });
  controlDir = mkdtempSync(join(tmpdir(), 'rb-ctl-'));
  connection = await connectHost('files-1', { sshConfig: fleet.sshConfig, controlDir });
  target = connection.target;
});
afterAll(async () => {
  await connection?.close();
  fleet?.stop();
  rmSync(controlDir, { recursive: true, force: true });
});

const onHost = (command: string) => {
  const r = fleet.ssh('files-1', command);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
};

describe('files on a host over ssh', () => {
  it('writes and reads back random binary bytes exactly', async () => {
    const bytes = randomBytes(300_000);
    await target.writeFile('/srv/blob.bin', bytes);
    expect((await target.readFile('/srv/blob.bin'))!.equals(bytes)).toBe(true);
    expect(onHost('sha256sum /srv/blob.bin').split(' ')[0]).toBe((await import('node:crypto')).createHash('sha256').update(bytes).digest('hex'));
    expect(await target.readFile('/srv/nothing-here')).toBeUndefined();
    expect(await target.readEntry('/srv/nothing-here', false)).toEqual({ kind: 'absent' });
  });

  it('keeps a CRLF file without a final newline byte for byte', async () => {
    const bytes = Buffer.from('a=1\r\nb=2\r\nno newline at the end');
    await target.writeFile('/srv/crlf.ini', bytes);
    expect(onHost('od -An -c /srv/crlf.ini | tr -s " " | tr -d "\\n"')).toContain('\\r \\n');
    expect(await target.readFile('/srv/crlf.ini')).toEqual(bytes);
  });

  it('keeps the mode and owner of an existing file unless given, and a new file follows the umask', async () => {
    onHost('printf old > /srv/owned.conf && chown 1234:2345 /srv/owned.conf && chmod 0640 /srv/owned.conf');
    await target.writeFile('/srv/owned.conf', Buffer.from('new'));
    expect(onHost('stat -c "%a %u %g" /srv/owned.conf').trim()).toBe('640 1234 2345');
    expect(await target.readEntry('/srv/owned.conf', true)).toEqual({ kind: 'file', bytes: Buffer.from('new'), mode: 0o640, uid: 1234, gid: 2345 });
    await target.writeFile('/srv/owned.conf', Buffer.from('given'), 0o600, { uid: 99, gid: 98 });
    expect(onHost('stat -c "%a %u %g" /srv/owned.conf').trim()).toBe('600 99 98');
    await target.writeFile('/srv/fresh.conf', Buffer.from('x'));
    expect(onHost('stat -c "%a" /srv/fresh.conf').trim()).toBe('644');
    expect(onHost('ls -A /srv | grep runbook || true')).toBe('');
  });

  it('writes through a symlink, reads the link itself as a link, and places and removes links', async () => {
    onHost('mkdir -p /srv/real && printf before > /srv/real/app.conf && ln -sfn /srv/real/app.conf /srv/app.conf');
    await target.writeFile('/srv/app.conf', Buffer.from('after'));
    expect(onHost('readlink /srv/app.conf; cat /srv/real/app.conf')).toBe('/srv/real/app.conf\nafter');
    expect(await target.readEntry('/srv/app.conf', false)).toEqual({ kind: 'symlink', target: '/srv/real/app.conf', uid: 0, gid: 0 });
    expect((await target.readEntry('/srv/app.conf', true)).kind).toBe('file');
    expect(await target.info('/srv/app.conf', false)).toEqual({ kind: 'symlink', mode: 0o777, uid: 0, gid: 0 });
    expect(await target.info('/srv/real', true)).toMatchObject({ kind: 'directory' });
    await target.placeSymlink('/srv/app.conf', '/srv/elsewhere', { uid: 0, gid: 0 });
    expect(await target.readEntry('/srv/app.conf', true)).toEqual({ kind: 'symlink', target: '/srv/elsewhere', uid: 0, gid: 0 });
    expect(await target.remove('/srv/app.conf')).toBe(true);
    expect(await target.remove('/srv/app.conf')).toBe(false);
    expect(onHost('test -e /srv/real/app.conf && echo kept')).toBe('kept\n');
    // A dangling link is replaced by the file, as on this machine (what a snapshot of it restores).
    onHost('ln -sfn /srv/real/missing /srv/dangling');
    expect(await target.readEntry('/srv/dangling', true)).toEqual({ kind: 'symlink', target: '/srv/real/missing', uid: 0, gid: 0 });
    expect(await target.info('/srv/dangling', true)).toBeUndefined();
    expect(await target.info('/srv/dangling', false)).toMatchObject({ kind: 'symlink' });
    expect(await target.readFile('/srv/dangling')).toBeUndefined();
    await target.writeFile('/srv/dangling', Buffer.from('file now'));
    expect(onHost('test -L /srv/dangling || cat /srv/dangling; test -e /srv/real/missing && echo created || true')).toBe('file now');
  });

  it('refuses a FIFO or a directory unread, naming the host', async () => {
    onHost('mkfifo /srv/pipe');
    await expect(target.readFile('/srv/pipe')).rejects.toThrow(/^files-1: cannot read \/srv\/pipe: it is a FIFO \(named pipe\), not a regular file$/);
    await expect(target.readFile('/srv')).rejects.toThrow(/files-1: cannot read \/srv: it is a directory/);
    const error = await target.writeFile('/srv/no/such/dir/x', Buffer.from('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepFailedError);
    expect((error as Error).message).toMatch(/^files-1: cannot write \/srv\/no\/such\/dir\/x: /);
    // The bytes of the failed write were not left for the next operation to read as a request.
    await target.writeFile('/srv/after-failure', Buffer.from('fine'));
    expect(await target.readFile('/srv/after-failure')).toEqual(Buffer.from('fine'));
  });

  it('chmod, chown, free space, programs and the environment as a command there sees it', async () => {
    onHost('printf x > /srv/perm');
    await target.chmod('/srv/perm', 0o751);
    expect(await target.chown('/srv/perm', { uid: 7, gid: 8 })).toBe(true);
    expect(onHost('stat -c "%a %u %g" /srv/perm').trim()).toBe('751 7 8');
    const free = await target.freeBytes('/srv');
    const dfAvail = Number(onHost('df -Pk /srv | tail -1').trim().split(/\s+/)[3]) * 1024;
    expect(Math.abs(free - dfAvail)).toBeLessThan(1 << 20);
    expect(await target.findProgram('sh')).toMatch(/^\/.*\/sh$/);
    expect(await target.findProgram('no-such-program-here')).toBeUndefined();
    expect(await target.findProgram('cd')).toBeUndefined();
    expect(await target.findProgram('sh', '/nowhere')).toBeUndefined();
    expect(await target.environment(['HOME', 'ADDED', 'UNSET_ONE'], { ADDED: 'a value' })).toEqual({ HOME: '/root', ADDED: 'a value', UNSET_ONE: undefined });
    expect(target.resolve('/root', 'a/../b.conf')).toBe('/root/b.conf');
    expect(target.resolve('/root', '/etc/x')).toBe('/etc/x');
  });

  it('paths, values and input with shell metacharacters are data, never executed', async () => {
    rmSync('/tmp/pwned', { force: true });
    onHost('rm -f /tmp/pwned');
    const nasty = ['$(touch /tmp/pwned)', '`touch /tmp/pwned`', "a'b\"c; touch /tmp/pwned", 'line\nbreak; touch /tmp/pwned', '-rf * ?', 'trailing newline\n'];
    for (const [i, name] of nasty.entries()) {
      const path = `/srv/${name.replaceAll('/', '_')}`;
      const bytes = Buffer.from(`content ${i} ${name}`);
      await target.writeFile(path, bytes);
      expect(await target.readFile(path)).toEqual(bytes);
      await target.placeSymlink(`${path}.link`, name, { uid: 0, gid: 0 });
      expect(await target.readEntry(`${path}.link`, false)).toMatchObject({ kind: 'symlink', target: name });
      const r = await target.exec({ command: 'printf %s "$VALUE"; cat', cwd: '/srv', env: { VALUE: name }, input: name, signal: new AbortController().signal, capture: true });
      expect(r.stdout).toBe(name + name);
      expect((await target.exec({ argv: ['printf', '%s', name], cwd: '/srv', env: {}, signal: new AbortController().signal, capture: true })).stdout).toBe(name);
      expect(await target.environment(['VALUE'], { VALUE: name })).toEqual({ VALUE: name });
      expect(await target.remove(path)).toBe(true);
    }
    await target.exec({ command: 'true', cwd: '/srv/$(touch /tmp/pwned)', env: {}, signal: new AbortController().signal }).catch(() => {});
    expect(onHost('test -e /tmp/pwned && echo PWNED || echo clean')).toBe('clean\n');
    expect(existsSync('/tmp/pwned')).toBe(false);
    await expect(target.exec({ command: 'true', cwd: '/', env: { 'BAD;NAME': 'x' }, signal: new AbortController().signal })).rejects.toThrow(/not a valid name/);
  });
});
