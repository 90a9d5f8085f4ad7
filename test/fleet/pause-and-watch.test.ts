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
  // Not built: with hosts, apply skips the `watch` window after the last change (executor.ts,
  // `plan.runbook.watch && !plan.fleet`); the watch runs only during pauses between batches.
  it.todo('keeps verifying every host, the canary too: one that breaks then rolls the whole rollout back');
});
