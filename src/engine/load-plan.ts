import { resolve } from 'node:path';
import { RunbookInvalidError } from '../model/diagnostic.js';
import type { Plan } from '../model/plan.js';
import { loadRunbook } from './load.js';
import { resolvePlan } from './resolve.js';
import { parseVarFlag, readVarsFiles } from './vars.js';

export interface LoadPlanOptions {
  /** `--var key=value` flags, in order. */
  vars?: string[];
  /** `--vars-file` paths, in order. */
  varsFiles?: string[];
  env?: NodeJS.ProcessEnv;
  /** Apply: an unset `{{ env.X }}` is an error. Plan: it is shown as `${X}`. */
  strictEnv?: boolean;
}

/** The pure front half of every command: YAML + vars → Plan. Throws RunbookInvalidError. */
export async function loadPlan(file: string, options: LoadPlanOptions = {}): Promise<Plan> {
  const sources = new Map<string, string>();
  const cliVars = Object.fromEntries((options.vars ?? []).map(parseVarFlag));
  const fromFiles = await readVarsFiles((options.varsFiles ?? []).map((f) => resolve(f)), sources);
  const external = new Set([...Object.keys(fromFiles.vars), ...Object.keys(cliVars)]);
  let runbook;
  try {
    runbook = await loadRunbook(file, { externalVars: external, sources });
  } catch (error) {
    if (error instanceof RunbookInvalidError && fromFiles.diagnostics.length > 0) {
      throw new RunbookInvalidError([...fromFiles.diagnostics, ...error.diagnostics], sources);
    }
    throw error;
  }
  if (fromFiles.diagnostics.length > 0) throw new RunbookInvalidError(fromFiles.diagnostics, sources);
  const { plan, diagnostics } = resolvePlan(runbook, {
    vars: { ...fromFiles.vars, ...cliVars },
    env: options.env ?? process.env,
    strictEnv: options.strictEnv ?? false,
  });
  if (!plan) throw new RunbookInvalidError(diagnostics, sources);
  return plan;
}
