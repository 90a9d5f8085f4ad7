/**
 * `rollout.pause` with a `watch`: between batches the hosts already done keep being verified;
 * one that breaks during the pause fails, and the policy rolls the rollout back before the next
 * batch is touched.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { APP_CONF, eventName, fileOn, fingerprints, seed, startFleet, until, workspace, type Fleet } from './fleet-fixture.js';

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet('p', 2, 190);
});
afterAll(() => fleet?.stop());
beforeEach(() => seed(fleet));

const runbook = `runbook: 1
name: pause-and-watch
title: A canary watched during the pause
hosts:
  web: [p-1, p-2]
rollout: { canary: 1, batch: 1, pause: 5s }
watch: { duration: 1s, interval: 200ms }
changes:
  - id: pool
    title: Pool size 20
    risk: 1
    on: web
    apply:
      - file: { path: /srv/app.conf, line: "pool=20", regexp: "^pool=" }
    verify:
      - name: the app is healthy
        run: "test ! -e /srv/unhealthy"
`;

describe('a canary that breaks during the pause', () => {
  it('fails while the watch verifies it, and the rollout is rolled back at once, before the next batch starts', async () => {
    const before = fingerprints(fleet);
    const ws = workspace(fleet, runbook);
    const run = ws.start(['apply', ws.runbook, '--yes']);
    await until(() => run.events().some((e) => eventName(e) === 'change.verified' && e.host === 'p-1'), 'the canary verified');
    fleet.on('p-1', 'touch /srv/unhealthy');

    const r = await run.done;
    expect(r.code).toBe(1);
    const events = run.events();
    const failedAt = events.find((e) => eventName(e) === 'change.failed' && e.host === 'p-1' && e.phase === 'watch')?.at;
    const rollbackAt = events.find((e) => eventName(e) === 'step.started' && e.phase === 'rollback')?.at;
    // At once: not at the end of the 5 s pause.
    expect(Date.parse(String(rollbackAt)) - Date.parse(String(failedAt))).toBeLessThan(1_000);
    expect(events.some((e) => e.host === 'p-2')).toBe(false);
    fleet.on('p-1', 'rm /srv/unhealthy');
    expect(fileOn(fleet, 'p-1', '/srv/app.conf')).toBe(APP_CONF);
    expect(fingerprints(fleet)).toEqual(before);
  });

  it('a healthy canary goes on to the next batch after the pause', () => {
    const ws = workspace(fleet, runbook);
    const t0 = Date.now();
    const r = ws.cli(['apply', ws.runbook, '--yes']);
    expect(r.code).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5_000);
    expect(r.stdout).toMatch(/^ {2}p-2 {2}✔ applied and verified: pool$/m);
  });
});

describe('the watch window after the last batch', () => {
  const watched = runbook.replace('rollout: { canary: 1, batch: 1, pause: 5s }', 'rollout: { canary: 1, batch: 1 }').replace('watch: { duration: 1s, interval: 200ms }', 'watch: { duration: 6s, interval: 200ms }');

  it('keeps verifying every host, the canary too: one that breaks then rolls the whole rollout back', async () => {
    const before = fingerprints(fleet);
    const ws = workspace(fleet, watched);
    const run = ws.start(['apply', ws.runbook, '--yes']);
    await until(() => run.events().some((e) => eventName(e) === 'watch.started'), 'the watch window after the last batch');
    fleet.on('p-1', 'touch /srv/unhealthy');

    const r = await run.done;
    expect(r.code).toBe(1);
    const events = run.events();
    expect(events.some((e) => eventName(e) === 'change.failed' && e.host === 'p-1' && e.phase === 'watch')).toBe(true);
    // Both hosts were done; the canary broke in the window: the policy (rollback-all) undoes both.
    expect(events.filter((e) => eventName(e) === 'change.rolledBack' && e.ok === true).map((e) => e.host).sort()).toEqual(['p-1', 'p-2']);
    fleet.on('p-1', 'rm /srv/unhealthy');
    expect(fingerprints(fleet)).toEqual(before);
  });

  it('a fleet that stays healthy through the window is applied (exit 0)', () => {
    const ws = workspace(fleet, watched.replace('duration: 6s', 'duration: 1s'));
    const r = ws.cli(['apply', ws.runbook, '--yes']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('watch: re-verifying every change for 1.0s');
    expect(r.stdout).toMatch(/^p-1 \| \[watch 1\/1 pool · step 1\] the app is healthy … ok/m);
    expect(r.stdout).toMatch(/^ {2}p-1 {2}✔ applied and verified: pool$/m);
  });
});
