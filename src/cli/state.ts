import { UsageError } from '../model/diagnostic.js';
import type { StateStore } from '../state/contract.js';
import { FileStateStore } from '../state/file.js';
import type { CommonOptions } from './options.js';
import { stateDirFor } from './state-dir.js';

/** The state backend for a runbook: `.runbook/` beside it, `--state-dir`, or `--state URL`. */
export function openStore(file: string, options: CommonOptions): StateStore {
  if (options.state && /^postgres(ql)?:\/\//.test(options.state)) {
    throw new UsageError('the PostgreSQL state backend (--state postgres://…) is not available in this version; use the file backend (--state-dir)');
  }
  if (options.state) throw new UsageError(`unknown state backend ${JSON.stringify(options.state.replace(/:[^@/]*@/, ':***@'))}; expected postgres://… or use --state-dir`);
  const dir = stateDirFor(file, options.stateDir);
  const hint = `runbook unlock ${file}${options.stateDir ? ` --state-dir ${options.stateDir}` : ''}`;
  return new FileStateStore(dir, hint);
}
