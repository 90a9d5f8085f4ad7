/**
 * The executor suite runs once per state backend (two vitest projects, see vitest.config.ts):
 * in the `postgres-state` leg every CLI call that uses state gets `--state <url>` with a schema
 * of its own per runbook directory, and after each test we check that PostgreSQL really was
 * used (the runs are in the database, no journal files were written).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { inject } from 'vitest';
import { openStore } from '../../src/cli/kit/open-store.js';
import { compareRuns } from '../../src/model/run-id.js';
import type { LockHolder, StateStore } from '../../src/state/contract.js';

export type Backend = 'file' | 'postgres';

/** The state backend of this test run. */
export const backend: Backend = process.env.RUNBOOK_TEST_BACKEND === 'postgres' ? 'postgres' : 'file';

const STATEFUL = new Set(['apply', 'rollback', 'status', 'history', 'unlock']);

/** One schema per runbook directory: tests never share runs or locks, and every call on one runbook finds its state. */
export function schemaFor(runbookDir: string): string {
  return `t_${createHash('sha256').update(resolve(runbookDir)).digest('hex').slice(0, 16)}`;
}

/**
 * The `--state` URL of a runbook in this leg. It has no password: the leg gives it in
 * PGPASSWORD (postgres-leg.ts), as the README advises, so commands the engine prints carry an
 * exact `--state` and can be run as printed.
 */
export function stateUrlFor(runbook: string): string {
  const url = new URL(inject('pg').url);
  url.password = '';
  return `${url.toString()}?schema=${schemaFor(dirname(resolve(runbook)))}`;
}

/** What a command printed for the operator repeats of this leg's state: '' or ` --state '<url>'`. */
export function printedState(runbook: string): string {
  return backend === 'postgres' ? ` --state '${stateUrlFor(runbook)}'` : '';
}

interface Call {
  dir: string;
  command: string;
  args: string[];
  code?: number | null;
}

/** The CLI calls of the running test (postgres leg), for the check after it. */
export const calls: Call[] = [];

/**
 * What the CLI gets on top of a test's arguments in this leg: `--state <url>` for a command
 * that uses state, unless the test chose the state itself (`--state` or RUNBOOK_STATE).
 */
export function backendArgs(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { extra: string[]; call?: Call } {
  const [command, file] = args;
  if (backend !== 'postgres' || !command || !STATEFUL.has(command) || !file || file.startsWith('-')) return { extra: [] };
  if (args.some((a) => a === '--state' || a.startsWith('--state=')) || opts.env?.RUNBOOK_STATE) return { extra: [] };
  const runbook = resolve(opts.cwd ?? process.cwd(), file);
  const call: Call = { dir: dirname(runbook), command, args };
  calls.push(call);
  return { extra: ['--state', stateUrlFor(runbook)], call };
}

/** Runs SQL with psql on the test database (or `url`); unaligned, tuples only. */
export function psql(sql: string, url = inject('pg').url): string {
  return execFileSync(join(inject('pg').binDir, 'psql'), ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], { encoding: 'utf8' });
}

function schemaExists(schema: string): boolean {
  return psql(`SELECT count(*) FROM pg_namespace WHERE nspname = '${schema}'`).trim() === '1';
}

/** Run ids of the runbook in `dir` as the database has them (postgres leg). */
export function databaseRunIds(dir: string): string[] {
  const schema = schemaFor(dir);
  if (!schemaExists(schema)) return [];
  return psql(`SELECT run_id FROM "${schema}".runs ORDER BY run_id`).split('\n').filter(Boolean);
}

/** Every journal event of the runbook in `dir`, one JSON per line, whichever backend holds them. */
export function journalText(dir: string): string {
  if (backend === 'postgres') {
    const schema = schemaFor(dir);
    return schemaExists(schema) ? psql(`SELECT event FROM "${schema}".events ORDER BY run_id, seq`) : '';
  }
  const runs = join(dir, '.runbook', 'runs');
  return readdirSync(runs)
    .map((f) => readFileSync(join(runs, f), 'utf8'))
    .join('\n');
}

/**
 * Everything the state backend stored for the runbook in `dir`, as text: every file under
 * `.runbook/`, or a data dump of its schema (every table: runs, events, lock holders).
 */
export function storedState(dir: string): string {
  if (backend === 'postgres') {
    const schema = schemaFor(dir);
    if (!schemaExists(schema)) return '';
    return execFileSync(join(inject('pg').binDir, 'pg_dump'), ['--data-only', '--schema', schema, '-d', inject('pg').url], { encoding: 'utf8' });
  }
  const files = (d: string): string[] => (existsSync(d) ? readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(d, e.name)) : [join(d, e.name)])) : []);
  return files(join(dir, '.runbook'))
    .map((f) => readFileSync(f, 'latin1'))
    .join('\n');
}

/** Journal files written below `dir` (there must be none in the postgres leg). */
function journalFiles(dir: string): string[] {
  const runs = join(dir, '.runbook', 'runs');
  return existsSync(runs) ? readdirSync(runs).filter((f) => f.endsWith('.jsonl')) : [];
}

/**
 * After each test of the postgres leg: no `.runbook/runs` journal was written, and every
 * apply that ran (exit 0, 1 or 130) left its run in the database. Fails the test otherwise —
 * so a `--state` ignored by the CLI cannot pass on file state.
 */
export function checkPostgresWasUsed(): void {
  const byDir = new Map<string, Call[]>();
  for (const call of calls.splice(0)) byDir.set(call.dir, [...(byDir.get(call.dir) ?? []), call]);
  for (const [dir, list] of byDir) {
    const files = journalFiles(dir);
    if (files.length) throw new Error(`postgres leg: journal files were written in ${dir}/.runbook/runs (${files.join(', ')}): --state was not used`);
    const ran = list.filter((c) => c.command === 'apply' && !c.args.includes('--dry-run') && [0, 1, 130].includes(c.code ?? -1));
    if (ran.length && databaseRunIds(dir).length === 0) throw new Error(`postgres leg: ${ran.length} apply run(s) in ${dir} but no run in schema ${schemaFor(dir)}`);
  }
}

/** The state store the CLI would use for this runbook in this leg (for tests that drive the engine directly). */
export function testStore(runbook: string): Promise<StateStore> {
  const state = backend === 'postgres' ? stateUrlFor(runbook) : undefined;
  if (state) calls.push({ dir: dirname(resolve(runbook)), command: 'store', args: [] });
  return openStore(runbook, { var: [], varsFile: [], state, json: false, color: false, verbose: false });
}

/** Who holds the runbook's lock now, as its backend (and so `runbook status`) sees it; null when it is free. */
export async function lockHolderOf(runbook: string): Promise<Awaited<ReturnType<StateStore['lockHolder']>>> {
  const store = await testStore(runbook);
  try {
    return await store.lockHolder();
  } finally {
    await store.close();
  }
}

/** The runbook's run ids, oldest first (the engine's order, compareRuns). */
export async function runIdsOf(runbook: string): Promise<string[]> {
  const store = await testStore(runbook);
  try {
    return (await store.listRuns()).sort(compareRuns).map((r) => r.runId);
  } finally {
    await store.close();
  }
}

/**
 * Gives a recorded run another id, as if it had been made with that id (e.g. by a clock that
 * was ahead): the journal file renamed, or the run's rows re-keyed (the events' append-only
 * trigger and the foreign key held off for that one transaction).
 */
export function renameRun(runbook: string, from: string, to: string): void {
  const dir = dirname(resolve(runbook));
  if (backend === 'file') {
    const runs = join(dir, '.runbook', 'runs');
    renameSync(join(runs, `${from}.jsonl`), join(runs, `${to}.jsonl`));
    return;
  }
  const s = `"${schemaFor(dir)}"`;
  psql(`BEGIN; SET LOCAL session_replication_role = replica;
    UPDATE ${s}.runs SET run_id = '${to}' WHERE run_id = '${from}';
    UPDATE ${s}.events SET run_id = '${to}' WHERE run_id = '${from}';
    COMMIT;`);
}

/**
 * Makes the runbook's lock held by `holder` (a dead pid for a stale lock), the way that backend
 * would show it: the lock file (in `stateDir` if given), or an advisory lock held by a session
 * of this process.
 */
export async function holdLockAs(runbook: string, holder: Omit<LockHolder, 'since'>, opts: { stateDir?: string } = {}): Promise<{ release(): Promise<void> }> {
  if (backend === 'file') {
    const path = join(opts.stateDir ?? join(dirname(resolve(runbook)), '.runbook'), 'lock');
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify({ since: '2026-01-01T00:00:00Z', ...holder }));
    return { release: async () => rmSync(path, { force: true }) };
  }
  const store = await testStore(runbook);
  const handle = await store.lock(holder);
  return {
    release: async () => {
      await handle.release();
      await store.close();
    },
  };
}
