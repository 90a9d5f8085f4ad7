/**
 * Two operators with separate state (two `--state-dir`s) apply to the same host at once: the
 * host lock lets one in; the other gets exit 4 naming who holds the host, and changes nothing.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_CONF, fileOn, seed, startFleet, until, workspace, type Fleet } from './fleet-fixture.js';

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet('l', 1, 150);
  seed(fleet);
});
afterAll(() => fleet?.stop());

const runbook = (line: string) => `runbook: 1
name: shared-host
title: One host, two operators
hosts:
  web: [l-1]
changes:
  - id: pool
    title: Pool size
    risk: 1
    on: web
    apply:
      - file: { path: /srv/app.conf, line: "${line}", regexp: "^pool=" }
      - name: slow reload
        run: "sleep 3"
    rollback:
      - undo: apply
`;

describe('two applies against one host from two state dirs', () => {
  it('lets one in and refuses the other with exit 4, naming the holder', async () => {
    const alice = workspace(fleet, runbook('pool=20'));
    const bob = workspace(fleet, runbook('pool=30'));
    const first = alice.start(['apply', alice.runbook, '--yes', '--state-dir', join(alice.dir, 'alice-state')], { json: false });
    await until(() => fleet.ssh('l-1', 'pgrep -x sleep').status === 0, 'the first apply in its slow step');
    const runId = /run (\S+) \(1 change\)/.exec(first.stdout())![1]!;

    const second = bob.cli(['apply', bob.runbook, '--yes', '--state-dir', join(bob.dir, 'bob-state')]);
    expect(second.code).toBe(4);
    expect(second.stdout + second.stderr).toContain('l-1');
    expect(second.stdout + second.stderr).toContain(runId);
    expect(second.stdout + second.stderr).toContain(`pid ${first.pid}`);

    const done = await first.done;
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/^ {2}l-1 {2}✔ applied: pool \(no verify steps\)$/m);
    expect(fileOn(fleet, 'l-1', '/srv/app.conf')).toBe(APP_CONF.replace('pool=5', 'pool=20'));
  });
});
