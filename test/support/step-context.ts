import { expect } from 'vitest';
import { StepFailedError, type StepContext } from '../../src/steps/contract.js';
import { localTarget } from '../../src/steps/kit/local-target.js';

/** A real step context for calling a step module directly. */
export function stepCtx(cwd: string, overrides: Partial<StepContext> = {}): StepContext & { out: string[] } {
  const out: string[] = [];
  return {
    phase: 'apply',
    target: localTarget(cwd),
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

/** Awaits a step that must fail and returns its StepFailedError (the test fails if it succeeds). */
export async function failure(p: Promise<unknown>): Promise<StepFailedError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(StepFailedError);
    return error as StepFailedError;
  }
  throw new Error('expected the step to fail, it succeeded');
}
