import { describe, expect, it } from 'vitest';
import { loadPlan } from '../../src/plan/load-plan.js';
import { execute } from '../../src/run/executor.js';
import { testStore } from '../support/state-backend.js';
import { fourChanges } from './fixture.js';

describe('a broken progress display', () => {
  it('never stops an apply or its rollback: the renderer is dropped and the files are restored', async () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    const plan = await loadPlan(sb.runbook, { vars: ['fail_at=3'], strictEnv: true });
    const store = await testStore(sb.runbook);
    const journal = await store.createRun('test-run');
    let calls = 0;
    const result = await execute(plan, {
      runId: 'test-run',
      journal,
      listeners: [
        (e) => {
          calls++;
          if (e.type === 'change.started' && e.number === 2) throw new Error('terminal went away');
        },
      ],
      signal: new AbortController().signal,
      rollbackSignals: { stop: new AbortController().signal, kill: new AbortController().signal },
      env: process.env,
      command: 'test',
    });
    await journal.close();
    await store.close();
    expect(result.exitCode).toBe(1);
    expect(result.outcome).toBe('rolled-back');
    expect(result.displayErrors).toEqual(['terminal went away']);
    expect(sb.snapshot()).toEqual(before);
    expect(calls).toBeGreaterThan(3);
  });
});
