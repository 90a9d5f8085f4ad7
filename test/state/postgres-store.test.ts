import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import type { EngineEvent, JournalEvent } from '../../src/engine/events.js';
import { LockedError } from '../../src/state/contract.js';
import { FileStateStore } from '../../src/state/file.js';
import { importFallback, migrateState } from '../../src/state/migrate.js';
import { PostgresStateStore, redactUrl } from '../../src/state/postgres.js';
import { startCluster } from '../../tools/pg-cluster.js';

const { url, password } = inject('pg');
const stores: PostgresStateStore[] = [];
const dirs: string[] = [];
const children: ChildProcess[] = [];

function schemaName(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-pgstate-'));
  dirs.push(dir);
  return dir;
}

function store(schema: string, options: { key?: string; url?: string; localDir?: string } = {}): PostgresStateStore {
  const s = new PostgresStateStore(options.url ?? url, { key: options.key ?? 'deploy', schema, localDir: options.localDir ?? tempDir(), unlockHint: 'runbook unlock deploy.yaml --force' });
  stores.push(s);
  return s;
}

const me = (command = 'apply', pid = process.pid) => ({ pid, host: hostname(), user: userInfo().username, command, runId: 'r-test' });

const started = (runId: string): EngineEvent => ({
  type: 'run.started',
  runId,
  runbook: 'deploy',
  file: 'deploy.yaml',
  changes: [{ id: 'a', title: 'A', risk: 1, checksum: 'abc' }],
  host: hostname(),
  pid: process.pid,
  user: 'op',
  dryRun: false,
  secrets: [],
});
const changeStarted: EngineEvent = { type: 'change.started', changeId: 'a', number: 1, title: 'A', checksum: 'abc', rollback: null };
const finished: EngineEvent = { type: 'run.finished', outcome: 'applied', exitCode: 0, remaining: [], durationMs: 5 };

function strip(events: JournalEvent[]): EngineEvent[] {
  return events.map(({ seq: _seq, at: _at, ...rest }) => rest as EngineEvent);
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const s of stores.splice(0)) await s.close();
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('PostgresStateStore', () => {
  it('creates its schema on first use with a recorded version, and round-trips runs and events', async () => {
    const schema = schemaName();
    const s = store(schema);
    expect(await s.listRuns()).toEqual([]);
    const journal = await s.createRun('r1');
    await journal.append(started('r1'));
    await journal.append(changeStarted, false);
    await journal.close();

    // A second store (another connection) sees what the first committed, and does not migrate again.
    const other = store(schema);
    const read = await other.readRun('r1');
    expect(read.torn).toBe(false);
    expect(read.events.map((e) => e.seq)).toEqual([0, 1]);
    expect(strip(read.events)).toEqual([started('r1'), changeStarted]);
    expect(Date.parse(read.events[0]!.at)).not.toBeNaN();
    expect(await other.listRuns()).toEqual([{ runId: 'r1', startedAt: read.events[0]!.at, lastEvent: 'change.started', finished: false }]);

    // openRun continues the sequence (rollback continues the run it undoes).
    const reopened = await other.openRun('r1');
    await reopened.append(finished);
    expect((await s.readRun('r1')).events.map((e) => [e.seq, e.type])).toEqual([
      [0, 'run.started'],
      [1, 'change.started'],
      [2, 'run.finished'],
    ]);
    expect((await s.listRuns())[0]).toMatchObject({ runId: 'r1', lastEvent: 'run.finished', finished: true });

    const versions = await s.query<{ version: number }>('test', `SELECT version FROM "${schema}".schema_version`);
    expect(versions).toEqual([{ version: 1 }]);
    // Several first uses at once (a team's first applies) do not race on creating the schema.
    const fresh = schemaName();
    expect(await Promise.all([1, 2, 3].map(() => store(fresh).listRuns()))).toEqual([[], [], []]);
    // Runs are per lock key: another runbook in the same schema sees none of them.
    expect(await store(schema, { key: 'other-runbook' }).listRuns()).toEqual([]);
    await expect(s.createRun('r1')).rejects.toThrow(/creating the run/);
    await expect(s.readRun('nope')).rejects.toThrow(/no run nope/);
  });

  it('two stores on the same key: one gets the lock, the other LockedError naming the holder', async () => {
    const schema = schemaName();
    const a = store(schema);
    const b = store(schema);
    const handle = await a.lock(me('apply'));
    const refused = await errorOf(b.lock(me('rollback')));
    expect(refused).toBeInstanceOf(LockedError);
    const holder = (refused as LockedError).holder;
    expect(holder).toMatchObject({ pid: process.pid, host: hostname(), user: userInfo().username, command: 'apply', runId: 'r-test' });
    expect(refused.message).toContain(`pid ${process.pid} on ${hostname()}`);
    expect(refused.message).toContain('"apply"');
    expect((refused as LockedError).stale).toBe(false);

    const seen = await b.lockHolder();
    expect(seen?.holder).toMatchObject({ pid: process.pid, command: 'apply' });
    expect(seen?.stale).toBe(false);
    // A live lock is not cleared without force.
    expect(await b.unlock(false)).toMatchObject({ pid: process.pid });
    expect(await b.lockHolder()).not.toBeNull();

    // Another key is independent.
    const elsewhere = await store(schema, { key: 'other-runbook' }).lock(me());
    await elsewhere.release();

    await handle.release();
    expect(await b.lockHolder()).toBeNull();
    const second = await b.lock(me('rollback'));
    await second.release();
  });

  it('names the holder from pg_stat_activity (application_name, query_start) when no holder row exists', async () => {
    const schema = schemaName();
    const s = store(schema);
    await s.listRuns(); // creates the schema
    const raw = new pg.Client({ connectionString: url, application_name: 'runbook:elsewhere:4242:apply' });
    await raw.connect();
    try {
      await raw.query('SELECT pg_try_advisory_lock(hashtext($1))', [`runbook:${schema}:deploy`]);
      const err = await errorOf(s.lock(me()));
      expect(err).toBeInstanceOf(LockedError);
      expect((err as LockedError).holder).toMatchObject({ host: 'elsewhere', pid: 4242, command: 'apply', user: 'postgres' });
      expect(Date.parse((err as LockedError).holder.since)).not.toBeNaN();
    } finally {
      await raw.end();
    }
  });

  it('a holder process killed with SIGKILL: the server releases its lock', async () => {
    const schema = schemaName();
    const s = store(schema);
    await s.listRuns();
    const script = fileURLToPath(new URL('./hold-lock.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, url, schema, 'deploy'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
      child.once('exit', (code) => reject(new Error(`holder exited ${code}: ${stderr}`)));
    });

    const refused = await errorOf(s.lock(me()));
    expect(refused).toBeInstanceOf(LockedError);
    expect((refused as LockedError).holder).toMatchObject({ pid: child.pid, host: hostname(), command: 'apply', runId: 'child-run' });

    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 15_000;
    let handle;
    while (!handle) {
      try {
        handle = await s.lock(me());
      } catch (error) {
        if (!(error instanceof LockedError) || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    expect((await s.lockHolder())?.holder.pid).toBe(process.pid);
    await handle.release();
  });

  it('unlock --force ends the holder session; the holder then refuses to append and keeps the event locally', async () => {
    const schema = schemaName();
    const localDir = tempDir();
    const a = store(schema, { localDir });
    const b = store(schema);
    const handle = await a.lock(me());
    const journal = await a.createRun('r1');
    await journal.append(started('r1'));

    expect(await b.unlock(true)).toMatchObject({ pid: process.pid, command: 'apply' });
    const deadline = Date.now() + 10_000;
    while (!a.lockLost && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const err = await errorOf(journal.append(changeStarted));
    expect(err.message).toMatch(/state database .* is unreachable/);
    expect(err.message).toContain(join(localDir, 'fallback', 'r1.jsonl'));
    await journal.close();
    await handle.release();
    expect((await b.readRun('r1')).events.map((e) => e.type)).toEqual(['run.started']);

    // Reconcile: the fallback journal goes into the database with its seq.
    const report = await importFallback(join(localDir, 'fallback'), b);
    expect(report.runs).toEqual([{ runId: 'r1', added: 1, torn: false }]);
    expect((await b.readRun('r1')).events.map((e) => [e.seq, e.type])).toEqual([
      [0, 'run.started'],
      [1, 'change.started'],
    ]);
  });

  it('the cluster stopped mid-run: append rejects saying the database is unreachable, the event lands in the fallback', async () => {
    const cluster = await startCluster();
    try {
      const localDir = tempDir();
      const s = store('runbook', { url: cluster.url(), localDir });
      const handle = await s.lock(me());
      const journal = await s.createRun('r-down');
      await journal.append(started('r-down'));
      await journal.append(changeStarted);
      cluster.stop();

      const err = await errorOf(journal.append(finished));
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toMatch(/the state database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres is unreachable/);
      expect(err.message).toContain(join(localDir, 'fallback', 'r-down.jsonl'));
      expect(err.message).not.toContain(cluster.password);
      // Later events follow it there: nothing is lost, nothing continues blind.
      await expect(journal.append({ type: 'watch.finished', ok: true })).rejects.toThrow(/unreachable/);
      await journal.close();
      const fallback = readFileSync(join(localDir, 'fallback', 'r-down.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as JournalEvent);
      expect(fallback.map((e) => [e.seq, e.type])).toEqual([
        [2, 'run.finished'],
        [3, 'watch.finished'],
      ]);
      await handle.release();

      // With the server gone, every call says so, without the password.
      const fresh = () => store('runbook', { url: cluster.url() });
      const calls = [() => s.listRuns(), () => s.lockHolder(), () => s.lock(me()), () => fresh().createRun('x'), () => fresh().lock(me()), () => fresh().lockHolder()];
      for (const call of calls) {
        const e = await errorOf(call());
        expect(e.message).toMatch(/unreachable/);
        expect(e.message).not.toContain(cluster.password);
      }
    } finally {
      cluster.stop();
    }
  });

  it('never shows the password: location, wrong-password failures and lock refusals', async () => {
    const schema = schemaName();
    const s = store(schema);
    expect(s.location).not.toContain(password);
    expect(s.location).toMatch(/^postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/runbook_test$/);
    expect(redactUrl('postgres://u:se%40cret@h/db?sslpassword=x')).toBe('postgres://u:***@h/db?sslpassword=***');

    const wrong = url.replace(password, 'wrong-Pa55');
    const bad = store(schema, { url: wrong });
    const err = await errorOf(bad.listRuns());
    expect(err.message).toMatch(/state database postgres:\/\/postgres:\*\*\*@.* failed while listing runs: password authentication failed/);
    expect(err.message).not.toContain('wrong-Pa55');
    expect(err.message).not.toContain(password);

    const handle = await s.lock(me());
    const refused = await errorOf(store(schema).lock(me()));
    expect(refused.message).toContain('postgres://postgres:***@');
    expect(refused.message).not.toContain(password);
    await handle.release();
  });

  it('migrates runs and events from a file store, and running it again adds nothing', async () => {
    const dir = tempDir();
    const file = new FileStateStore(dir, 'runbook unlock x');
    for (const runId of ['20260101-a', '20260102-b']) {
      const j = await file.createRun(runId);
      await j.append(started(runId));
      await j.append(changeStarted);
      if (runId.endsWith('a')) await j.append(finished);
      await j.close();
    }
    const s = store(schemaName());
    const report = await migrateState(file, s);
    expect(report.runs).toEqual([
      { runId: '20260101-a', added: 3, torn: false },
      { runId: '20260102-b', added: 2, torn: false },
    ]);
    expect(await s.listRuns()).toEqual(await file.listRuns());
    for (const { runId } of await file.listRuns()) expect(await s.readRun(runId)).toEqual(await file.readRun(runId));
    expect((await migrateState(file, s)).runs.map((r) => r.added)).toEqual([0, 0]);
  });
});
