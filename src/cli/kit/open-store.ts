import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import { UsageError } from '../../model/diagnostic.js';
import { StateUnusableError, type StateStore } from '../../state/contract.js';
import { FileStateStore } from '../../state/file/file-store.js';
import { redactUrl } from '../../support/redact-url.js';
import { reconcileCommand, runbookCommand } from './next-command.js';
import type { CommonOptions } from './options.js';
import { stateDirFor } from './state-dir.js';

export const DEFAULT_ENVIRONMENT = 'default';
const ENVIRONMENT_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** `--environment` / RUNBOOK_ENVIRONMENT, checked: it names a directory and keys the lock. */
export function environmentOf(options: Pick<CommonOptions, 'environment'>): string {
  const env = options.environment ?? DEFAULT_ENVIRONMENT;
  if (!ENVIRONMENT_NAME.test(env)) throw new UsageError(`--environment ${JSON.stringify(env)}: expected lowercase letters, digits, '.', '_' or '-' (e.g. staging, prod)`);
  return env;
}

/** The runbook's `name:` (its file name if unreadable): with the environment, what the PostgreSQL lock and history are keyed by. */
export function runbookKey(file: string): string {
  try {
    const name = (parse(readFileSync(file, 'utf8')) as { name?: unknown } | null)?.name;
    if (typeof name === 'string' && name) return name;
  } catch {
    // an invalid runbook is reported by the command itself
  }
  return basename(file).replace(/\.ya?ml$/, '');
}

/** Where a runbook's local state lives: the state dir, or `environments/<name>/` in it (the default environment keeps the plain layout). */
export function localStateDir(file: string, options: CommonOptions): string {
  const dir = stateDirFor(file, options.stateDir);
  const environment = environmentOf(options);
  return environment === DEFAULT_ENVIRONMENT ? dir : join(dir, 'environments', environment);
}

/** `--state`'s value as a connection URL and schema; a malformed one is a usage error that never shows the password. */
export function parseStateUrl(value: string, flag = '--state'): { url: string; schema?: string } {
  if (!/^postgres(ql)?:\/\//.test(value)) throw new UsageError(`unknown state backend ${JSON.stringify(maskAnyUrl(value))}; expected postgres://… or use --state-dir`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new StateUnusableError(`${flag} ${maskAnyUrl(value)} is not a valid URL; expected postgres://user[:password]@host[:port]/database[?schema=name]; nothing was done`);
  }
  const schema = url.searchParams.get('schema') ?? undefined;
  if (schema === '') throw new StateUnusableError(`${flag} ${redactUrl(value)}: ?schema= is empty; nothing was done`);
  url.searchParams.delete('schema');
  return { url: url.toString(), schema };
}

/** Masks even a URL no parser accepts: everything between `://` and the last `@` (user and password). */
function maskAnyUrl(value: string): string {
  const at = value.lastIndexOf('@');
  const start = value.indexOf('://');
  return at > start && start >= 0 ? `${value.slice(0, start + 3)}***${value.slice(at)}` : value;
}

/**
 * The state backend for a runbook: `.runbook/` beside it (or `--state-dir`), or PostgreSQL with
 * `--state postgres://…` / RUNBOOK_STATE (`?schema=name` picks the schema, default `runbook`);
 * either per `--environment`.
 */
export async function openStore(file: string, options: CommonOptions): Promise<StateStore> {
  const dir = localStateDir(file, options);
  const unlockHint = runbookCommand(['unlock', file], { ...options, varsFile: [] });
  if (options.state) {
    const { url, schema } = parseStateUrl(options.state);
    const { PostgresStateStore } = await import('../../state/postgres/postgres-store.js');
    return new PostgresStateStore(url, {
      runbook: runbookKey(file),
      environment: environmentOf(options),
      schema,
      localDir: dir,
      unlockHint,
      reconcileHint: reconcileCommand(join(dir, 'fallback'), options),
      statusHint: runbookCommand(['status', file], options),
    });
  }
  return new FileStateStore(dir, unlockHint);
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
