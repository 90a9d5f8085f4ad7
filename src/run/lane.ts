import type { Phase, StepFailure } from '../model/events.js';
import type { StepEnvironment } from './step-runner.js';

/** Where a change's steps run: this machine, or one host. Each lane reports its own current step. */
export interface Lane {
  host?: string;
  env: StepEnvironment;
  current: { phase: Phase; changeId?: string; index: number; label: string; host?: string };
}

/** A change failed in a phase, at a step: journaled as change.failed by whoever ran it. */
export class ChangeFailed extends Error {
  constructor(
    readonly phase: Phase,
    readonly step: string,
    readonly failure: StepFailure,
  ) {
    super(failure.message);
  }
}
