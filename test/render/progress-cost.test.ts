import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPlan } from '../../src/plan/load-plan.js';
import type { EngineEvent } from '../../src/model/events.js';
import { listrRenderer } from '../../src/render/progress/listr.js';
import { fakeTerminal } from '../support/fake-terminal.js';

/** Draws one change of `steps` steps, a step every millisecond (so many frames are drawn), through the terminal renderer. */
async function drawRun(steps: number, columns = 120) {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-progress-'));
  const file = join(dir, 'runbook.yaml');
  const list = Array.from({ length: steps }, (_, i) => `      - { name: "step ${i + 1} — ünïcödé ✓", run: "true" }`).join('\n');
  writeFileSync(file, `runbook: 1\nname: many\nchanges:\n  - id: many\n    title: Many steps\n    risk: 0\n    rollback: [{ run: "true" }]\n    apply:\n${list}\n`);
  const plan = await loadPlan(file);
  const terminal = fakeTerminal(columns);
  const render = listrRenderer(plan, 1, { verbose: false, output: terminal.stream });
  const at = { phase: 'apply' as const, changeId: 'many' };
  const send = (e: EngineEvent) => void render(e);
  send({ type: 'change.started', changeId: 'many', number: 1, title: 'Many steps' } as EngineEvent);
  const bytesAt: number[] = [];
  for (let index = 0; index < steps; index++) {
    const label = plan.changes[0]!.apply[index]!.label;
    send({ type: 'step.started', ...at, index, label, attempt: 1 });
    send({ type: 'step.output', ...at, index, label, chunk: `output of step ${index + 1}\n` });
    send({ type: 'step.finished', ...at, index, label, attempt: 1, ok: true, durationMs: 1 });
    await new Promise((r) => setTimeout(r, 1));
    bytesAt.push(terminal.writes.reduce((n, w) => n + w.length, 0));
  }
  send({ type: 'change.applied', changeId: 'many', durationMs: steps });
  send({ type: 'change.verified', changeId: 'many', durationMs: steps, verifySteps: 0 });
  await render({ type: 'run.finished', outcome: 'applied', exitCode: 0, remaining: [], durationMs: steps } as EngineEvent);
  await render.finished;
  return { writes: terminal.writes, bytesAt, screen: terminal.writes.join('') };
}

describe('terminal progress', () => {
  it('writes no more per frame for step 500 than for step 50: the cost of a step does not grow with the step count', async () => {
    const { writes, bytesAt } = await drawRun(500);
    const largestFrame = Math.max(...writes.map((w) => w.length));
    // One frame is the change's few lines (counter, current step, its output), whatever the count.
    expect(largestFrame).toBeLessThan(1_000);
    const first = bytesAt[99]! / 100;
    const last = (bytesAt[499]! - bytesAt[399]!) / 100;
    expect(last).toBeLessThanOrEqual(first * 1.5 + 20);
  });

  it('shows the counter, the step running now and its output; the finished change is one line', async () => {
    const { screen, writes } = await drawRun(200, 40);
    expect(screen).toMatch(/✔ \d+\/200/);
    expect(screen).toContain('output of step');
    const end = writes.slice(-3).join('');
    expect(end).toMatch(/Many steps \[risk 0\/10\] — applied \(no verify steps\) in .* \(200 steps\)/s);
    expect(end).not.toContain('step 17 —');
  });

  it('counts every finished step, also those that finished before the first frame: the counter is the steps before the one shown, or those and it once it has finished', async () => {
    const { screen } = await drawRun(200, 120);
    const frames = [...screen.matchAll(/✔ (\d+)\/200 {2}▸ step (\d+) —/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(frames.length).toBeGreaterThan(0);
    for (const [finished, shown] of frames) expect([shown! - 1, shown]).toContain(finished);
  });
});
