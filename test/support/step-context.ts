import type { StepContext } from '../../src/steps/contract.js';

/** A real step context for calling a step module directly. */
export function stepCtx(cwd: string, overrides: Partial<StepContext> = {}): StepContext & { out: string[] } {
  const out: string[] = [];
  return {
    phase: 'apply',
    cwd,
    runbookDir: cwd,
    env: process.env,
    signal: new AbortController().signal,
    timeoutMs: 30_000,
    output: (chunk) => out.push(chunk),
    recorded: {},
    out,
    ...overrides,
  };
}
