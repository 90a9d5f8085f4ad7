import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import type { EngineEvent, JournalEvent } from '../../src/model/events.js';
import { LockedError, StateUnusableError } from '../../src/state/contract.js';
import { FileStateStore } from '../../src/state/file/file-store.js';
import { EventConflictError } from '../../src/state/postgres/db.js';
import { migrateJournals } from '../../src/state/postgres/migrate.js';
import { advisoryKey, PostgresStateStore, redactUrl } from '../../src/state/postgres/postgres-store.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/state/postgres/schema.js';
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

function store(schema: string, options: { runbook?: string; environment?: string; url?: string; localDir?: string } = {}): PostgresStateStore {
  const s = new PostgresStateStore(options.url ?? url, {
    runbook: options.runbook ?? 'deploy',
    environment: options.environment,
    schema,
    localDir: options.localDir ?? tempDir(),
    unlockHint: 'runbook unlock deploy.yaml',
    reconcileHint: 'runbook state migrate --from x',
  });
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

    const versions = await s.db.query<{ version: number }>('test', `SELECT version FROM "${schema}".schema_version ORDER BY version`);
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    // Several first uses at once (a team's first applies) do not race on creating the schema.
    const fresh = schemaName();
    expect(await Promise.all([1, 2, 3].map(() => store(fresh).listRuns()))).toEqual([[], [], []]);
    // Runs are per runbook and environment: another runbook, or staging of this one, sees none of them.
    expect(await store(schema, { runbook: 'other-runbook' }).listRuns()).toEqual([]);
    expect(await store(schema, { environment: 'staging' }).listRuns()).toEqual([]);
    await expect(store(schema, { environment: 'staging' }).readRun('r1')).rejects.toThrow(/no run r1 of runbook deploy, environment staging/);
    await expect(s.createRun('r1')).rejects.toThrow(/creating the run/);
    await expect(s.readRun('nope')).rejects.toThrow(/no run nope/);
  });

  it('every connection of its pool commits synchronously, though the server default is off (as in this test cluster)', async () => {
    const plain = new pg.Client({ connectionString: url });
    await plain.connect();
    expect((await plain.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]!.synchronous_commit).toBe('off');
    await plain.end();
    const s = store(schemaName());
    // Four at once, each holding its connection a moment: the pool opens a connection for each.
    const rows = await Promise.all([1, 2, 3, 4].map(() => s.db.query<{ setting: string; pid: number }>('test', "SELECT current_setting('synchronous_commit') AS setting, pg_backend_pid() AS pid, pg_sleep(0.1)")));
    expect(new Set(rows.map((r) => r[0]!.pid)).size).toBe(4);
    expect(rows.map((r) => r[0]!.setting)).toEqual(['on', 'on', 'on', 'on']);
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

    // Another runbook, and another environment of this one, have locks of their own.
    const elsewhere = await store(schema, { runbook: 'other-runbook' }).lock(me());
    await elsewhere.release();
    const staging = await store(schema, { environment: 'staging' }).lock(me());
    await staging.release();

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
      await raw.query('SELECT pg_try_advisory_lock($1::int4, $2::int4)', advisoryKey(schema, { runbook: 'deploy', environment: 'default' }));
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
    const child = spawn(process.execPath, ['--import', 'tsx', script, url, schema, 'deploy', 'default'], { stdio: ['ignore', 'pipe', 'pipe'] });
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

    // Until it is reconciled, taking the lock (apply, rollback) is refused with the command to run.
    const refused = await errorOf(a.lock(me()));
    expect(refused.message).toMatch(/run r1 has 1 event\(s\) in .*r1\.jsonl\. Nothing was done\. Reconcile first with: runbook state migrate --from x/);
    expect(await a.unreconciled()).toMatchObject([{ runId: 'r1', events: 1 }]);
    // Another runbook's state in the same directory is not held up by it.
    expect(await store(schema, { runbook: 'other', localDir }).unreconciled()).toEqual([]);

    // Reconcile: the fallback journal goes into the database with its seq, and is set aside.
    const report = await migrateJournals(join(localDir, 'fallback'), b.db, { environment: 'default' });
    expect(report.runs).toMatchObject([{ runId: 'r1', added: 1, torn: false, fallback: true, owner: { runbook: 'deploy', environment: 'default' } }]);
    expect(await a.unreconciled()).toEqual([]);
    expect(readdirSync(join(localDir, 'fallback', 'reconciled'))).toHaveLength(2);
    await (await a.lock(me())).release();
    expect((await b.readRun('r1')).events.map((e) => [e.seq, e.type])).toEqual([
      [0, 'run.started'],
      [1, 'change.started'],
    ]);
  });

  it('a snapshot stored once the database is lost goes to an owner-only local store beside the fallback journal, and reconcile copies it into the table', async () => {
    const schema = schemaName();
    const localDir = tempDir();
    const a = store(schema, { localDir });
    const b = store(schema);
    const handle = await a.lock(me());
    const journal = await a.createRun('r1');
    await journal.append(started('r1'));
    const first = await journal.snapshots.put(Buffer.from('taken while the database was there\n'));
    expect(await b.snapshots.list()).toEqual([first]);

    await b.unlock(true);
    const deadline = Date.now() + 10_000;
    while (!a.lockLost && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const bytes = Buffer.from('DB_PASSWORD=kept-locally\nMODE=a\n');
    const digest = await journal.snapshots.put(bytes);
    expect(await b.snapshots.list()).toEqual([first]);
    const local = join(localDir, 'fallback', 'snapshots');
    expect(statSync(local).mode & 0o777).toBe(0o700);
    expect(readdirSync(local).map((f) => [f, statSync(join(local, f)).mode & 0o777])).toEqual([[`${digest.slice(7)}.gz`, 0o600]]);
    // The step that needs it is journaled after it, in the fallback journal too; the run stops there.
    const stepStarted = { type: 'step.started', phase: 'apply', changeId: 'a', index: 0, label: 'edit /x', attempt: 1, inverse: [{ type: 'file', label: 'restore /x', params: { path: '/x', restore: { was: { kind: 'file', bytes: { snapshot: digest, size: bytes.length } } } } }] } as unknown as EngineEvent;
    expect((await errorOf(journal.append(stepStarted))).message).toMatch(/unreachable/);
    expect((await journal.snapshots.get(digest)).equals(bytes)).toBe(true);
    await journal.close();
    await handle.release();

    const report = await migrateJournals(join(localDir, 'fallback'), b.db, { environment: 'default' });
    expect(report.runs).toMatchObject([{ runId: 'r1', added: 1, fallback: true, snapshots: 1, missingSnapshots: [] }]);
    expect((await b.snapshots.list()).sort()).toEqual([first, digest].sort());
    expect((await b.snapshots.get(digest)).equals(bytes)).toBe(true);
    // The local copy is not needed any more.
    expect(readdirSync(local)).toEqual([]);
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
    expect(err).toBeInstanceOf(StateUnusableError);
    expect(err.message).toMatch(/^the state database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/runbook_test \(host 127\.0\.0\.1, port \d+, database runbook_test\) cannot be used: password authentication failed for user "postgres"; nothing was done$/);
    expect(err.message).not.toContain('wrong-Pa55');
    expect(err.message).not.toContain(password);

    const handle = await s.lock(me());
    const refused = await errorOf(store(schema).lock(me()));
    expect(refused.message).toContain('postgres://postgres:***@');
    expect(refused.message).not.toContain(password);
    await handle.release();
  });

  it('migrates a file state dir: runs and events keep their seq and times; running it again adds nothing', async () => {
    const dir = tempDir();
    const file = new FileStateStore(dir, 'runbook unlock x');
    for (const runId of ['20260101-a', '20260102-b']) {
      const j = await file.createRun(runId);
      await j.append(started(runId));
      await j.append(changeStarted);
      if (runId.endsWith('a')) await j.append(finished);
      await j.close();
    }
    const schema = schemaName();
    const s = store(schema);
    const report = await migrateJournals(dir, s.db, { environment: 'default' });
    expect(report.runs.map((r) => [r.runId, r.added, r.torn, r.fallback, r.owner.runbook])).toEqual([
      ['20260101-a', 3, false, false, 'deploy'],
      ['20260102-b', 2, false, false, 'deploy'],
    ]);
    expect(await s.listRuns()).toEqual(await file.listRuns());
    for (const { runId } of await file.listRuns()) expect(await s.readRun(runId)).toEqual(await file.readRun(runId));
    expect((await migrateJournals(dir, s.db, { environment: 'default' })).runs.map((r) => r.added)).toEqual([0, 0]);
    // Into another environment, the same runs are that environment's history.
    expect(await store(schema, { environment: 'prod' }).listRuns()).toEqual([]);
  });

  it('an imported event that differs from the stored one with its seq is a conflict: nothing of that run is imported, nothing dropped', async () => {
    const s = store(schemaName());
    const journal = await s.createRun('r1');
    await journal.append(started('r1'));
    await journal.append(changeStarted);
    const stored = (await s.readRun('r1')).events;
    // A local journal that took seq 1 for something else (e.g. a rollback recorded while the database was away).
    const local: JournalEvent[] = [stored[0]!, { ...finished, seq: 1, at: new Date().toISOString() }, { ...finished, seq: 2, at: new Date().toISOString() }];
    const err = await errorOf(s.db.importEvents('r1', local, s.owner));
    expect(err).toBeInstanceOf(EventConflictError);
    expect(err.message).toMatch(/run r1 event 1 differs: the database has change\.started .* the journal being imported has run\.finished/);
    expect((await s.readRun('r1')).events).toEqual(stored);
    // Identical events are skipped, so a repeated import is harmless.
    expect(await s.db.importEvents('r1', stored, s.owner)).toBe(0);
  });

  it('events are append-only in the database itself: UPDATE, DELETE and TRUNCATE are refused', async () => {
    const schema = schemaName();
    const s = store(schema);
    const journal = await s.createRun('r1');
    await journal.append(started('r1'));
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    try {
      for (const sql of [`UPDATE "${schema}".events SET type = 'x'`, `DELETE FROM "${schema}".events`, `TRUNCATE "${schema}".events CASCADE`]) {
        await expect(raw.query(sql)).rejects.toThrow(/runbook state events are append-only: (UPDATE|DELETE|TRUNCATE) on t_\w+\.events refused/);
      }
    } finally {
      await raw.end();
    }
    expect((await s.readRun('r1')).events.map((e) => e.type)).toEqual(['run.started']);
  });

  it('upgrades a schema left at version 1 by an older runbook, keeping its runs and lock holder rows', async () => {
    const schema = schemaName();
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    try {
      // The schema exactly as version 1 of this code created it, with a run in it.
      await raw.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      await raw.query(MIGRATIONS[0]!(`"${schema}"`));
      await raw.query(`INSERT INTO "${schema}".schema_version (version) VALUES (1)`);
      await raw.query(`INSERT INTO "${schema}".runs (run_id, lock_key) VALUES ('old-run', 'deploy')`);
      const event = { ...started('old-run'), seq: 0, at: '2026-01-01T00:00:00.000Z' };
      await raw.query(`INSERT INTO "${schema}".events (run_id, seq, at, type, event) VALUES ('old-run', 0, $1, 'run.started', $2)`, [event.at, JSON.stringify(event)]);
    } finally {
      await raw.end();
    }
    const s = store(schema);
    expect(await s.listRuns()).toMatchObject([{ runId: 'old-run', lastEvent: 'run.started', finished: false }]);
    const versions = await s.db.query<{ version: number }>('test', `SELECT version FROM "${schema}".schema_version ORDER BY version`);
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    const runs = await s.db.query<{ runbook: string; environment: string }>('test', `SELECT runbook, environment FROM "${schema}".runs`);
    expect(runs).toEqual([{ runbook: 'deploy', environment: 'default' }]);
    await (await s.lock(me())).release();
  });

  it('refuses a schema newer than it knows, writing nothing', async () => {
    const schema = schemaName();
    const first = store(schema);
    await first.listRuns();
    await first.db.query('test', `INSERT INTO "${schema}".schema_version (version) VALUES ($1)`, [SCHEMA_VERSION + 1]);
    const s = store(schema);
    for (const call of [() => s.listRuns(), () => s.lock(me()), () => s.createRun('r-new')]) {
      const err = await errorOf(call());
      expect(err).toBeInstanceOf(StateUnusableError);
      expect(err.message).toContain(`the state schema "${schema}" is at version ${SCHEMA_VERSION + 1}, newer than this runbook knows (${SCHEMA_VERSION}); upgrade runbook to use it (nothing was written)`);
    }
    expect(await first.db.query('test', `SELECT run_id FROM "${schema}".runs`)).toEqual([]);
  });

  it('refuses the lock when another live session has recorded itself as this runbook\'s holder under another key', async () => {
    const schema = schemaName();
    const s = store(schema);
    await s.listRuns();
    const raw = new pg.Client({ connectionString: url, application_name: 'runbook:old-host:77:apply' });
    await raw.connect();
    try {
      // What a runbook holding the lock by another key (hashtext, before version 2) leaves: a holder row, and its own advisory lock.
      await raw.query('SELECT pg_advisory_lock(hashtext($1))', [`runbook:${schema}:deploy`]);
      await raw.query(`INSERT INTO "${schema}".lock_holders (runbook, environment, backend_pid, holder) VALUES ('deploy', 'default', pg_backend_pid(), $1)`, [
        JSON.stringify({ pid: 77, host: 'old-host', user: 'op', command: 'runbook apply deploy.yaml', since: '2026-01-01T00:00:00Z' }),
      ]);
      const err = await errorOf(s.lock(me()));
      expect(err).toBeInstanceOf(LockedError);
      expect(err.message).toMatch(/locked by another run: pid 77 on old-host .*a different lock key/);
      // It did not keep the advisory lock it briefly had.
      expect(await s.lockHolder()).toBeNull();
    } finally {
      await raw.end();
    }
    // Once that session is gone, its leftover row does not block anyone.
    await (await s.lock(me())).release();
  });
});
