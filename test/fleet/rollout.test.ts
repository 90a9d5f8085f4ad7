/**
 * A rolling change across four real sshd hosts (canary 1, then batches of 2: [r-1], [r-2, r-3],
 * [r-4]) driven by the built CLI, and what each host holds afterwards, read back over ssh.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { APP_CONF, CRONTAB, crontab, fileOn, fingerprints, seed, startFleet, workspace, type Fleet } from './fleet-fixture.js';

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet('r', 4, 120);
});
afterAll(() => fleet?.stop());
beforeEach(() => seed(fleet));

/** A config line (CRLF file, no final newline), a new file, a cron job; `fail_on` fails that host's verify. */
function rolloutRunbook({ maxFailures = 0, onFailure = 'rollback-all' } = {}): string {
  return `runbook: 1
name: fleet-rollout
title: Pool size and nightly backup on the web hosts
hosts:
  web: [r-1, r-2, r-3, r-4]
rollout: { canary: 1, batch: 2, maxFailures: ${maxFailures} }
vars: { fail_on: none }
policy: { onFailure: ${onFailure} }
changes:
  - id: pool
    title: Pool size 20
    on: web
    risk: 1
    apply:
      - file: { path: /srv/app.conf, line: "pool=20", regexp: "^pool=" }
      - file: { path: /srv/motd, content: "served by {{ host.name }}\\n" }
    verify:
      - run: "grep -q pool=20 /srv/app.conf"
  - id: backup
    title: Nightly backup
    on: web
    risk: 1
    apply:
      - cron: { id: backup, schedule: "0 3 * * *", command: "/srv/backup.sh" }
    verify:
      - run: "crontab -l | grep -q runbook:backup"
      - name: fault injection
        run: "test {{ host.name }} != {{ fail_on }}"
`;
}

const changed = (name: string) => {
  expect(fileOn(fleet, name, '/srv/app.conf')).toBe('a=1\r\npool=20\r\nb=2');
  expect(fileOn(fleet, name, '/srv/motd')).toBe(`served by ${name}\n`);
  expect(crontab(fleet, name)).toMatch(/^0 3 \* \* \* \/srv\/backup\.sh # runbook:backup$/m);
};
const untouched = (name: string) => {
  expect(fileOn(fleet, name, '/srv/app.conf')).toBe(APP_CONF);
  expect(fleet.ssh(name, 'test -e /srv/motd').status).toBe(1);
  expect(crontab(fleet, name)).toBe(name === 'r-4' ? '' : CRONTAB);
};

describe('a rollout that succeeds', () => {
  it('changes every host, and `rollback` leaves every host byte-identical to before (files and crontab)', () => {
    const before = fingerprints(fleet);
    const ws = workspace(fleet, rolloutRunbook());

    const applied = ws.cli(['apply', ws.runbook, '--yes']);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    for (const name of fleet.names) changed(name);
    expect(applied.stdout).toContain('══ batch 1/3: r-1 · 0/4 hosts done · 0 failed');
    expect(applied.stdout).toContain('══ batch 2/3: r-2, r-3 · 1/4 hosts done · 0 failed');
    expect(applied.stdout).toContain('══ batch 3/3: r-4 · 3/4 hosts done · 0 failed');
    for (const name of fleet.names) expect(applied.stdout).toMatch(new RegExp(`^  ${name}  ✔ applied and verified: pool, backup$`, 'm'));

    const rolledBack = ws.cli(['rollback', ws.runbook, '--yes']);
    expect(rolledBack.code).toBe(0);
    expect(rolledBack.stdout).toContain('still applied: nothing — the system is as before this run');
    for (const name of fleet.names) expect(rolledBack.stdout).toMatch(new RegExp(`^  ${name}  ↩ rolled back$`, 'm'));
    expect(fingerprints(fleet)).toEqual(before);
    for (const name of fleet.names) untouched(name);
  });
});

describe('apply --limit', () => {
  it('changes only the hosts it keeps, in the rollout order of those hosts', () => {
    const before = fingerprints(fleet);
    const ws = workspace(fleet, rolloutRunbook());
    const r = ws.cli(['apply', ws.runbook, '--yes', '--limit', 'web,!r-2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('══ batch 1/2: r-1 · 0/3 hosts done · 0 failed');
    expect(r.stdout).toContain('══ batch 2/2: r-3, r-4 · 1/3 hosts done · 0 failed');
    for (const name of ['r-1', 'r-3', 'r-4']) changed(name);
    expect(fingerprints(fleet)['r-2']).toBe(before['r-2']);

    expect(ws.cli(['rollback', ws.runbook, '--yes']).code).toBe(0);
    expect(fingerprints(fleet)).toEqual(before);
  });
});

describe('rollback --limit', () => {
  it('undoes the run on the hosts it names only; a later rollback undoes the rest', () => {
    const before = fingerprints(fleet);
    const ws = workspace(fleet, rolloutRunbook());
    expect(ws.cli(['apply', ws.runbook, '--yes']).code).toBe(0);

    const one = ws.cli(['rollback', ws.runbook, '--yes', '--limit', 'r-2']);
    expect(one.code).toBe(0);
    expect(fingerprints(fleet)['r-2']).toBe(before['r-2']);
    for (const name of ['r-1', 'r-3', 'r-4']) changed(name);
    expect(ws.cli(['status', ws.runbook]).stdout).not.toContain('pool@r-2');

    expect(ws.cli(['rollback', ws.runbook, '--yes']).code).toBe(0);
    expect(fingerprints(fleet)).toEqual(before);
  });
});

describe('a verify that fails on the third host', () => {
  it('rolls back every changed host — the canary and the finished batch too — and exits 1 with a line per host', () => {
    const before = fingerprints(fleet);
    const ws = workspace(fleet, rolloutRunbook());

    const r = ws.cli(['apply', ws.runbook, '--yes', '--var', 'fail_on=r-3']);
    expect(r.code).toBe(1);
    expect(fingerprints(fleet)).toEqual(before);
    expect(r.stdout).toContain('failed:       backup on r-3, verify step "fault injection"');
    expect(r.stdout).toContain('still applied: nothing — the system is as before this run');
    expect(r.stdout).toMatch(/^ {2}r-1 {2}↩ rolled back$/m);
    expect(r.stdout).toMatch(/^ {2}r-2 {2}↩ rolled back$/m);
    expect(r.stdout).toMatch(/^ {2}r-3 {2}↩ rolled back \(failed: backup failed in verify: command exited with code 1\)$/m);
    expect(r.stdout).toMatch(/^ {2}r-4 {2}· not reached \(nothing changed\)$/m);
  });
});

describe('maxFailures: 1 with one failing host', () => {
  it('goes on with the rollout: the failed host is rolled back, every other host applied, exit 1', () => {
    const before = fingerprints(fleet);
    const ws = workspace(fleet, rolloutRunbook({ maxFailures: 1 }));

    const r = ws.cli(['apply', ws.runbook, '--yes', '--var', 'fail_on=r-3']);
    expect(r.code).toBe(1);
    for (const name of ['r-1', 'r-2', 'r-4']) changed(name);
    expect(fingerprints(fleet)['r-3']).toBe(before['r-3']);
    expect(r.stdout).toContain('══ batch 3/3: r-4 · 2/4 hosts done · 1 failed');
    expect(r.stdout).toMatch(/^ {2}r-3 {2}↩ rolled back \(failed: backup failed in verify: command exited with code 1\)$/m);
    for (const name of ['r-1', 'r-2', 'r-4']) expect(r.stdout).toMatch(new RegExp(`^  ${name}  ✔ applied and verified: pool, backup$`, 'm'));

    // What stays applied is still the run's: one rollback undoes it.
    expect(ws.cli(['rollback', ws.runbook, '--yes']).code).toBe(0);
    expect(fingerprints(fleet)).toEqual(before);
  });
});

describe('policy.onFailure across hosts', () => {
  it('rollback-failed rolls back only the failed host, stops the rollout, and leaves the finished hosts applied', () => {
    const before = fingerprints(fleet);
    const ws = workspace(fleet, rolloutRunbook({ onFailure: 'rollback-failed' }));

    const r = ws.cli(['apply', ws.runbook, '--yes', '--var', 'fail_on=r-3']);
    expect(r.code).toBe(1);
    changed('r-1');
    changed('r-2');
    const after = fingerprints(fleet);
    expect(after['r-3']).toBe(before['r-3']);
    expect(after['r-4']).toBe(before['r-4']);
    expect(r.stdout).toMatch(/^ {2}r-3 {2}↩ rolled back \(failed: /m);
    expect(r.stdout).toMatch(/^ {2}r-4 {2}· not reached \(nothing changed\)$/m);

    expect(ws.cli(['rollback', ws.runbook, '--yes']).code).toBe(0);
    expect(fingerprints(fleet)).toEqual(before);
  });

  it('stop undoes nothing: the failed host keeps its changes until `runbook rollback`, which restores every host', () => {
    const before = fingerprints(fleet);
    const ws = workspace(fleet, rolloutRunbook({ onFailure: 'stop' }));

    const r = ws.cli(['apply', ws.runbook, '--yes', '--var', 'fail_on=r-3']);
    expect(r.code).toBe(1);
    for (const name of ['r-1', 'r-2', 'r-3']) changed(name);
    expect(fingerprints(fleet)['r-4']).toBe(before['r-4']);
    expect(r.stdout).toMatch(/^ {2}r-4 {2}· not reached \(nothing changed\)$/m);

    const rolledBack = ws.cli(['rollback', ws.runbook, '--yes']);
    expect(rolledBack.code).toBe(0);
    expect(fingerprints(fleet)).toEqual(before);
  });
});
