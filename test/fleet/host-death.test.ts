/**
 * A host that dies in the middle of a step (SIGKILL of its namespace: sshd and everything in
 * it) while the other hosts of its batch go on: it fails with ssh's own reason, the others are
 * handled by the policy, and the run ends — it never waits for the dead host.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_CONF, fileOn, fingerprint, fingerprints, seed, startFleet, until, workspace, type Fleet } from './fleet-fixture.js';

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet('d', 4, 130);
  seed(fleet);
});
afterAll(() => fleet?.stop());

const runbook = `runbook: 1
name: host-dies
title: A host dies mid-step
hosts:
  web: [d-1, d-2, d-3, d-4]
rollout: { canary: 1, batch: 3 }
changes:
  - id: pool
    title: Pool size 20, then a slow reload
    risk: 1
    on: web
    apply:
      - file: { path: /srv/app.conf, line: "pool=20", regexp: "^pool=" }
      - name: slow reload
        run: "sleep 4"
    rollback:
      - undo: apply
`;

describe('a host killed mid-step', () => {
  it('fails that host with ssh`s reason, rolls back the others, and ends the run without hanging', async () => {
    const before = fingerprints(fleet);
    const ws = workspace(fleet, runbook);
    const run = ws.start(['apply', ws.runbook, '--yes'], { json: false });
    await until(() => /^d-3 \| \[apply 1\/1 pool · step 2\] slow reload/m.test(run.stdout()) || fleet.ssh('d-3', 'pgrep -x sleep').status === 0, 'the slow step on d-3');
    await until(() => fleet.ssh('d-3', 'pgrep -x sleep').status === 0, 'sleep running on d-3');
    const killedAt = Date.now();
    fleet.kill('d-3');

    const r = await run.done;
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    expect(r.stdout).toMatch(/^d-3 \| ✖ host failed: .*d-3: connection lost: Connection to 127\.0\.0\.132 closed by remote host\.?/m);
    // rollback-all: every other host back as before; d-3 cannot be reached to undo anything.
    const after = Object.fromEntries(['d-1', 'd-2', 'd-4'].map((n) => [n, fingerprint(fleet, n)]));
    expect(after).toEqual({ 'd-1': before['d-1'], 'd-2': before['d-2'], 'd-4': before['d-4'] });
    for (const name of ['d-1', 'd-2', 'd-4']) expect(fileOn(fleet, name, '/srv/app.conf')).toBe(APP_CONF);
    expect(r.stdout).toMatch(/^ {2}d-1 {2}↩ rolled back$/m);
    expect(r.stdout).toMatch(/^ {2}d-3 {2}.*connection lost/m);
    expect(r.stdout).toContain('to finish by hand, in this order:\n  pool@d-3: restore /srv/app.conf\n');
    expect(r.code).toBe(3);
  });
});

describe('a host that cannot be reached', () => {
  it('fails at once with ssh`s own words and changes nothing there; the hosts of its batch are rolled back', () => {
    const ws = workspace(fleet, runbook.replace('[d-1, d-2, d-3, d-4]', '[d-1, d-2, d-gone, d-4]'));
    // d-gone: an alias for a loopback address where nothing listens.
    const sshConfig = join(ws.dir, 'ssh_config');
    writeFileSync(sshConfig, `Include ${fleet.sshConfig}\nHost d-gone\n  HostName 127.0.0.189\n`);
    const before = Object.fromEntries(['d-1', 'd-2', 'd-4'].map((n) => [n, fingerprint(fleet, n)]));

    const t0 = Date.now();
    const r = workspace(fleet, '', { sshConfig }).cli(['apply', ws.runbook, '--yes']);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ {2}d-gone {2}✖ failed, nothing changed: d-gone: ssh: connect to host 127\.0\.0\.189 port 22: Connection refused$/m);
    for (const name of ['d-1', 'd-2', 'd-4']) expect(r.stdout).toMatch(new RegExp(`^  ${name} +↩ rolled back$`, 'm'));
    expect(Object.fromEntries(['d-1', 'd-2', 'd-4'].map((n) => [n, fingerprint(fleet, n)]))).toEqual(before);
  });
});
