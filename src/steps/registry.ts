import type { StepType } from './contract.js';

/**
 * Every step type, in one list. Adding a step type is adding a module in `src/steps/` and a
 * line here. Modules must not import heavy dependencies (pg, simple-git, execa, listr2) at
 * the top level: load them inside `run`, so `plan` and `validate` stay fast.
 */
export const stepTypes: readonly StepType<never>[] = [];

const byType = new Map(stepTypes.map((t) => [t.type, t]));

export function stepType(type: string): StepType<unknown> | undefined {
  return byType.get(type) as StepType<unknown> | undefined;
}
