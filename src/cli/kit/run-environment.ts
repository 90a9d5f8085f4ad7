import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StateStore } from '../../state/contract.js';
import { DEFAULT_ENVIRONMENT, environmentOf } from './open-store.js';
import type { CommonOptions } from './options.js';
import { stateDirFor } from './state-dir.js';

/** The runs directory of each environment of the runbook in the state dir's layout (the default one keeps the plain layout). */
function runDirs(file: string, options: CommonOptions): Map<string, string> {
  const base = stateDirFor(file, options.stateDir);
  const dirs = new Map([[DEFAULT_ENVIRONMENT, join(base, 'runs')]]);
  let names: string[] = [];
  try {
    names = readdirSync(join(base, 'environments'));
  } catch {
    // no other environment
  }
  for (const name of names) dirs.set(name, join(base, 'environments', name, 'runs'));
  return dirs;
}

/**
 * The other environment of this runbook whose runs hold `runId`, if one does: an operator who
 * forgot `--environment` is told where the run is instead of only that it is not here.
 */
export async function otherEnvironmentOfRun(file: string, options: CommonOptions, store: StateStore, runId: string): Promise<string | undefined> {
  const current = environmentOf(options);
  if (store.environmentOfRun) {
    const found = await store.environmentOfRun(runId);
    return found !== current ? found : undefined;
  }
  if (runId === '' || /[/\0]/.test(runId)) return undefined;
  for (const [name, dir] of runDirs(file, options)) if (name !== current && existsSync(join(dir, `${runId}.jsonl`))) return name;
  return undefined;
}

/**
 * The other environments of this runbook that have runs, sorted: `status` and a rollback that
 * finds nothing here name them, so a forgotten `--environment` does not read as "nothing applied".
 */
export async function otherEnvironmentsWithRuns(file: string, options: CommonOptions, store: StateStore): Promise<string[]> {
  const current = environmentOf(options);
  if (store.environmentsWithRuns) return (await store.environmentsWithRuns()).filter((name) => name !== current).sort();
  const hasRuns = (dir: string) => {
    try {
      return readdirSync(dir).some((name) => name.endsWith('.jsonl'));
    } catch {
      return false;
    }
  };
  return [...runDirs(file, options)].filter(([name, dir]) => name !== current && hasRuns(dir)).map(([name]) => name).sort();
}
