/**
 * After a fleet run, `status` and `history` say which change is applied on which host — and
 * `status` and `rollback` judge each host's change by that host's own definition and files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seed, startFleet, workspace, type Fleet } from './fleet-fixture.js';

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet('t', 2, 170);
  seed(fleet);
});
afterAll(() => fleet?.stop());

// /srv/app.conf exists on the hosts only, and the verify differs per host (its checksum too).
const runbook = `runbook: 1
name: fleet-status
title: Status of a fleet
hosts:
  web: [t-1, t-2]
rollout: { canary: 1, batch: 1 }
changes:
  - id: pool
    title: Pool size 20
    risk: 1
    on: web
    apply:
      - file: { path: /srv/app.conf, line: "pool=20", regexp: "^pool=" }
    verify:
      - run: "grep -q pool=20 /srv/app.conf && test $(hostname) = {{ host.name }}"
`;

describe('status and history after a fleet run', () => {
  it('name each host a change is applied on, with no false warnings', () => {
    const ws = workspace(fleet, runbook);
    const applied = ws.cli(['apply', ws.runbook, '--yes']);
    expect(applied.code).toBe(0);
    const runId = /run (\S+)\)/.exec(applied.stdout)![1];

    const status = ws.cli(['status', ws.runbook]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`applied: 1. pool@t-1 — verified (run ${runId})\napplied: 1. pool@t-2 — verified (run ${runId})\n`);
    expect(status.stdout).not.toContain('warning');

    const history = ws.cli(['history', ws.runbook]);
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(new RegExp(`^${runId} .* applied +pool@t-1:verified pool@t-2:verified$`, 'm'));
    const json = JSON.parse(ws.cli(['history', ws.runbook, '--json']).stdout) as { changes: { id: string; host?: string }[] }[];
    expect(json[0]!.changes.map((c) => `${c.id}@${c.host}`)).toEqual(['pool@t-1', 'pool@t-2']);

    const rolledBack = ws.cli(['rollback', ws.runbook, '--yes']);
    expect(rolledBack.code).toBe(0);
    expect(rolledBack.stderr).toBe('');
    // Newest batch first.
    expect(ws.cli(['history', ws.runbook]).stdout).toContain('runbook rollback: rolled back pool@t-2, pool@t-1');
  });
});
