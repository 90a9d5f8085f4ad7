import { dirname, join, resolve } from 'node:path';

/** `.runbook/` beside the runbook, or `--state-dir`. */
export function stateDirFor(file: string, stateDir: string | undefined): string {
  return stateDir ? resolve(stateDir) : join(dirname(resolve(file)), '.runbook');
}
