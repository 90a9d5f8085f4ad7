import type { StepType } from './contract.js';
import { composeStep } from './compose.js';
import { cronStep } from './cron.js';
import { diskStep } from './disk.js';
import { envStep } from './env.js';
import { fileStep } from './file.js';
import { gitStep } from './git.js';
import { httpStep } from './http.js';
import { postgresStep } from './postgres.js';
import { runStep } from './run.js';
import { undoStep } from './undo.js';
import { waitStep } from './wait.js';
import { whichStep } from './which.js';

/**
 * Every step type, in one list. Adding a step type is adding a module in `src/steps/` named
 * after its type (helpers go in `src/steps/kit/`) and a line here. Modules must not import
 * heavy dependencies (pg, execa, cron-parser) at the top level: load them inside
 * `run`, so `plan` and `validate` stay fast (the layout guard in `npm run lint` says so).
 */
export const stepTypes = [runStep, httpStep, fileStep, envStep, diskStep, whichStep, waitStep, postgresStep, gitStep, cronStep, composeStep, undoStep] as unknown as readonly StepType<unknown>[];

const byType = new Map(stepTypes.map((t) => [t.type, t]));

export function stepType(type: string): StepType<unknown> | undefined {
  return byType.get(type);
}

export const stepTypeNames: readonly string[] = stepTypes.map((t) => t.type);
