import { describe, expect, it } from 'vitest';
import type { ChangeState, RunState } from '../../src/history/applied-state.js';
import { renderReport } from '../../src/render/report.js';

function change(id: string, host: string, extra: Partial<ChangeState>): ChangeState {
  return { id, host, number: 1, title: id, checksum: 'x', status: 'verified', rollback: null, inverses: [], paths: [], ...extra };
}

function report(changes: ChangeState[]): string {
  const hosts = [...new Set(changes.map((c) => c.host!))];
  const state: RunState = { runId: 'r', changes, secrets: [], finished: true, laterRollbacks: [], openProcesses: [], fleet: { hosts, batches: [hosts], maxFailures: 0 } };
  return renderReport({ state, outcome: 'applied', rollbackCommand: 'runbook rollback' });
}

describe('the per-host lines of the final report', () => {
  it('say "verified" only of changes that were', () => {
    const out = report([
      change('pool', 'web-1', {}),
      change('steps', 'web-2', { status: 'applied', noVerifySteps: true }),
      change('pool', 'web-3', {}),
      change('steps', 'web-3', { number: 2, status: 'applied', noVerifySteps: true }),
    ]);
    expect(out).toMatch(/web-1 +✔ applied and verified: pool$/m);
    expect(out).toMatch(/web-2 +✔ applied: steps \(no verify steps\)$/m);
    expect(out).toMatch(/web-3 +✔ applied: pool \(verified\), steps \(no verify steps\)$/m);
  });
});
