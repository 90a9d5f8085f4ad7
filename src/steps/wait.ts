import { setTimeout as sleep } from 'node:timers/promises';
import { formatMs, parseDuration } from '../model/units.js';
import type { StepType } from './contract.js';
import { StepFailedError } from './contract.js';
import { durationProblem } from './kit/param-checks.js';

export const waitStep: StepType<number> = {
  type: 'wait',
  summary: 'Pause for a duration (e.g. to let a service settle).',
  schema: { $ref: '#/$defs/duration' },
  kind: 'check',
  check(raw) {
    return durationProblem([], raw);
  },
  normalize(raw) {
    return parseDuration(raw as string) ?? 0;
  },
  describe(ms) {
    return `wait ${formatMs(ms)}`;
  },
  async run(ms, ctx) {
    try {
      await sleep(ms, undefined, { signal: ctx.signal });
    } catch {
      throw new StepFailedError(ctx.signal.reason instanceof Error ? ctx.signal.reason.message : 'interrupted');
    }
    return {};
  },
};
