import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { runStep } from '../../src/steps/run.js';
import { stepCtx } from '../support/step-context.js';

afterAll(() => {
  spawnSync('pkill', ['-f', 'sleep 97.4321']);
});

describe('run: a command that leaves something running in the background', () => {
  it('finishes when the command exits, not when the background process lets go of the output', async () => {
    const started = Date.now();
    const params = runStep.normalize!('sleep 97.4321 & echo started');
    const ctx = stepCtx(tmpdir());
    const outcome = await runStep.run(params as never, ctx);
    expect(outcome.detail).toBe('exit 0');
    expect(ctx.out.join('')).toContain('started');
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
