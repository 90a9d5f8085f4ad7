import type { ResolvedStep } from '../model/runbook.js';
import { stepType } from '../steps/registry.js';

/** What a step does, in its type's own words (describe()); undefined when its label already says exactly that. */
export function stepWhat(step: ResolvedStep): string | undefined {
  const what = stepType(step.type)?.describe(step.params as never);
  return what === undefined || what === step.label ? undefined : what;
}
