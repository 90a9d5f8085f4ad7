/**
 * kill -9 of the control node while a batch is running on two hosts: one `runbook rollback`
 * (no unlock first) restores every host the run touched, and no process of the step is left
 * on any host.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { databaseRunIds, stateUrlFor } from '../support/state-backend.js';
import { crontab, eventName, fingerprints, seed, startFleet, until, workspace, type Fleet } from './fleet-fixture.js';

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet('k', 4, 140);
});
afterAll(() => fleet?.stop());
beforeEach(() => seed(fleet));

const runbook = `runbook: 1
name: control-node-dies
title: The control node is killed mid-batch
hosts:
  web: [k-1, k-2, k-3, k-4]
rollout: { canary: 1, batch: 2 }
changes:
  - id: pool
    title: Pool size 20, a backup job, then a slow migration
    risk: 1
    on: web
    apply:
      - file: { path: /srv/app.conf, line: "pool=20", regexp: "^pool=" }
      - cron: { id: backup, schedule: "0 3 * * *", command: "/srv/backup.sh" }
      - name: slow migration
        run: "if [ {{ host.name }} != k-1 ]; then sleep 300; fi"
    rollback:
      - undo: apply
`;

const sleepsOn = (name: string) => fleet.ssh(name, 'ps -eo args').stdout.split('\n').filter((l) => l.includes('sleep 300'));

// The journal in the state dir beside the runbook, or in PostgreSQL (--state URL, password in PGPASSWORD).
describe.each(['file', 'postgres'] as const)('kill -9 of the control node mid-batch (%s state)', (backend) => {
  it('one `runbook rollback` restores every host, and leaves no process of the step on any host', async () => {
    const before = fingerprints(fleet);
    const ws = workspace(fleet, runbook);
    const state = backend === 'postgres' ? ['--state', stateUrlFor(ws.runbook)] : [];
    const env = { PGPASSWORD: inject('pg').password };
    const run = ws.start(['apply', ws.runbook, '--yes', ...state], { env });
    const slowOnBatch2 = () => run.events().filter((e) => eventName(e) === 'step.started' && e.label === 'slow migration' && (e.host === 'k-2' || e.host === 'k-3'));
    await until(() => slowOnBatch2().length === 2, 'the slow step started on k-2 and k-3');
    await until(() => sleepsOn('k-2').length > 0 && sleepsOn('k-3').length > 0, 'sleep 300 running on k-2 and k-3');
    expect(crontab(fleet, 'k-2')).toContain('# runbook:backup');
    run.kill('SIGKILL');
    const killed = await run.done;
    expect(killed.code).toBeNull();

    const r = ws.cli(['rollback', ws.runbook, '--yes', ...state], { env });
    expect(r.stderr).not.toMatch(/locked|unlock/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('still applied: nothing — the system is as before this run');
    for (const name of ['k-1', 'k-2', 'k-3']) expect(r.stdout).toMatch(new RegExp(`^  ${name}  ↩ rolled back$`, 'm'));
    expect(fingerprints(fleet)).toEqual(before);
    for (const name of fleet.names) expect(sleepsOn(name)).toEqual([]);
    if (backend === 'postgres') {
      expect(databaseRunIds(ws.dir)).toHaveLength(1);
      expect(existsSync(join(ws.dir, '.runbook'))).toBe(false);
    }
  });
});
