import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import { UsageError } from '../model/diagnostic.js';
import type { StateStore } from '../state/contract.js';
import { FileStateStore } from '../state/file.js';
import type { CommonOptions } from './options.js';
import { stateDirFor } from './state-dir.js';

/** The lock key of the PostgreSQL backend: the runbook's `name:` (its file name if unreadable). */
function runbookKey(file: string): string {
  try {
    const name = (parse(readFileSync(file, 'utf8')) as { name?: unknown } | null)?.name;
    if (typeof name === 'string' && name) return name;
  } catch {
    // an invalid runbook is reported by the command itself
  }
  return basename(file).replace(/\.ya?ml$/, '');
}

function maskUrl(url: string): string {
  return url.replace(/:[^@/:]*@/, ':***@');
}

/**
 * The state backend for a runbook: `.runbook/` beside it (or `--state-dir`), or PostgreSQL with
 * `--state postgres://…` / RUNBOOK_STATE (`?schema=name` picks the schema, default `runbook`).
 */
export async function openStore(file: string, options: CommonOptions): Promise<StateStore> {
  const dir = stateDirFor(file, options.stateDir);
  if (options.state && /^postgres(ql)?:\/\//.test(options.state)) {
    const url = new URL(options.state);
    const schema = url.searchParams.get('schema') ?? undefined;
    url.searchParams.delete('schema');
    const { PostgresStateStore } = await import('../state/postgres.js');
    return new PostgresStateStore(url.toString(), {
      key: runbookKey(file),
      schema,
      localDir: dir,
      unlockHint: `runbook unlock ${file} --state <url> --force`,
      reconcileHint: `run: runbook state migrate --from ${join(dir, 'fallback')} --to <url>`,
    });
  }
  if (options.state) throw new UsageError(`unknown state backend ${JSON.stringify(maskUrl(options.state))}; expected postgres://… or use --state-dir`);
  return new FileStateStore(dir, `runbook unlock ${file}${options.stateDir ? ` --state-dir ${options.stateDir}` : ''}`);
}

/** Opens the state backend for the command's duration and closes it (connections, locks) after. */
export async function withStore<T>(file: string, options: CommonOptions, fn: (store: StateStore) => Promise<T>): Promise<T> {
  const store = await openStore(file, options);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
