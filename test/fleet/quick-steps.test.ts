/**
 * Many quick steps on a host: each is one ssh session over the host's master, and none is held
 * open after its command ended (a session's watchdog once could keep it open 2 s more).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventName, startFleet, workspace, type Fleet } from './fleet-fixture.js';

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet('q', 2, 180);
});
afterAll(() => fleet?.stop());

const steps = Array.from({ length: 30 }, (_, i) => `      - run: "true"\n        name: step ${i + 1}\n`).join('');
const runbook = `runbook: 1
name: quick-steps
title: Thirty quick steps on two hosts
hosts:
  web: [q-1, q-2]
rollout: { canary: 0, batch: 2 }
changes:
  - id: quick
    title: Quick steps
    risk: 0
    on: web
    apply:
${steps}    rollback:
      - run: "true"
`;

describe('thirty quick steps on each of two hosts', () => {
  it('ends each step as soon as its command has (no step near 2 s)', async () => {
    const ws = workspace(fleet, runbook);
    const run = ws.start(['apply', ws.runbook, '--yes']);
    const r = await run.done;
    expect(r.code).toBe(0);
    const durations = run.events().filter((e) => eventName(e) === 'step.finished').map((e) => Number(e.durationMs));
    expect(durations).toHaveLength(60);
    expect(Math.max(...durations)).toBeLessThan(1_500);
  });
});
