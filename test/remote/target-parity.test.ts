/**
 * The same operations through the local target (on a temp dir here) and the ssh target (on a
 * host's /srv): a step must see the same results wherever it runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHost, type HostConnection } from '../../src/run/remote/ssh-target.js';
import { localTarget } from '../../src/steps/kit/local-target.js';
import type { Target } from '../../src/steps/kit/target.js';
import { startSshHosts, type SshHosts } from '../../tools/ssh-hosts.js';

let fleet: SshHosts;
let controlDir: string;
let localDir: string;
let connection: HostConnection;

beforeAll(async () => {
  fleet = await startSshHosts(['same-1'], { firstOctet: 76 });
  controlDir = mkdtempSync(join(tmpdir(), 'rb-ctl-'));
  localDir = mkdtempSync(join(tmpdir(), 'rb-parity-'));
  connection = await connectHost('same-1', { sshConfig: fleet.sshConfig, controlDir });
});
afterAll(async () => {
  await connection?.close();
  fleet?.stop();
  rmSync(controlDir, { recursive: true, force: true });
  rmSync(localDir, { recursive: true, force: true });
});

/** What a scenario observed, with the directory replaced by `<dir>` and the host name dropped from errors. */
async function observe(target: Target, dir: string): Promise<unknown[]> {
  const seen: unknown[] = [];
  const p = (name: string) => `${dir}/${name}`;
  const note = async (what: string, fn: () => Promise<unknown>) => {
    try {
      const value = await fn();
      seen.push([what, JSON.parse(JSON.stringify(value ?? null, (_k, v: unknown) => (typeof v === 'string' ? v.replaceAll(dir, '<dir>') : v)))]);
    } catch {
      seen.push([what, 'error']);
    }
  };
  await note('absent entry', () => target.readEntry(p('none'), false));
  await note('absent file', () => target.readFile(p('none')));
  await note('absent info', () => target.info(p('none'), true));
  await note('write', () => target.writeFile(p('a.conf'), Buffer.from('one\r\ntwo'), 0o640));
  await note('entry', () => target.readEntry(p('a.conf'), true));
  await note('info', () => target.info(p('a.conf'), false));
  await note('rewrite keeps mode', async () => {
    await target.writeFile(p('a.conf'), Buffer.from('three'));
    return target.info(p('a.conf'), true);
  });
  await note('new file mode', async () => {
    await target.writeFile(p('b.conf'), Buffer.from(''));
    return target.readEntry(p('b.conf'), true);
  });
  await note('link', async () => {
    await target.placeSymlink(p('link'), p('a.conf'), { uid: 0, gid: 0 });
    return [await target.readEntry(p('link'), false), await target.info(p('link'), false), await target.info(p('link'), true)];
  });
  await note('write through link', async () => {
    await target.writeFile(p('link'), Buffer.from('via link'));
    return [await target.readEntry(p('link'), false), await target.readFile(p('a.conf'))];
  });
  await note('dangling', async () => {
    await target.placeSymlink(p('dangling'), p('missing'), { uid: 0, gid: 0 });
    return [await target.readEntry(p('dangling'), true), await target.info(p('dangling'), true), await target.readFile(p('dangling'))];
  });
  await note('write over dangling', async () => {
    await target.writeFile(p('dangling'), Buffer.from('now a file'));
    return [await target.readEntry(p('dangling'), false), await target.info(p('missing'), false)];
  });
  await note('directory read', () => target.readFile(dir));
  await note('chmod', async () => {
    await target.chmod(p('b.conf'), 0o600);
    return target.info(p('b.conf'), true);
  });
  await note('chown', async () => [await target.chown(p('b.conf'), { uid: 12, gid: 34 }), await target.info(p('b.conf'), true)]);
  await note('remove', async () => [await target.remove(p('link')), await target.remove(p('link')), await target.readEntry(p('a.conf'), false)]);
  await note('remove directory', () => target.remove(dir));
  await note('resolve', async () => [target.resolve(dir, 'x/../y'), target.resolve(dir, '/etc/z')]);
  await note('run', async () => {
    const r = await target.exec({ command: 'echo "$ADDED"; cat; false | true; echo $?', cwd: dir, env: { ...(target.remote ? {} : process.env), ADDED: 'added' }, input: 'in', signal: new AbortController().signal, capture: true });
    return [r.exitCode, r.stdout, r.stderr];
  });
  await note('exit code', async () => (await target.exec({ argv: ['sh', '-c', 'exit 42'], cwd: dir, env: target.remote ? {} : process.env, signal: new AbortController().signal })).exitCode);
  return seen;
}

describe('the ssh target behaves like the local one', () => {
  it('files, links, metadata, errors and commands', async () => {
    const local = await observe(localTarget(localDir), localDir);
    const remote = await observe(connection.target, '/srv');
    expect(remote).toEqual(local);
  });
});
