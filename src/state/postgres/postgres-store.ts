import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Client } from 'pg';
import type { EngineEvent, JournalEvent } from '../../model/events.js';
import { fsyncDir } from '../../support/atomic-write.js';
import { redactUrl } from '../../support/redact-url.js';
import {
  LockedError,
  RunNotFoundError,
  StateUnavailableError,
  type LockHandle,
  type LockHolder,
  type RunJournal,
  type RunRead,
  type RunSummary,
  type SnapshotStore,
  type StateStore,
  type UnreconciledJournal,
} from '../contract.js';
import { crashPoint, FileRunJournal, readJournalFile } from '../file/journal-file.js';
import { describeHolder, isStale } from '../file/lock-file.js';
import { FileSnapshotStore } from '../file/snapshot-dir.js';
import { PostgresStateDb, type PostgresDbOptions, type RunOwner } from './db.js';
import { PostgresSnapshotStore } from './snapshot-table.js';

export interface PostgresStoreOptions extends PostgresDbOptions {
  /** The runbook's `name`: with the environment, what the lock protects and whose runs are listed. */
  runbook: string;
  /** e.g. `staging`, `prod` (default `default`): each has its own lock, runs and history. */
  environment?: string;
  /** The local state dir (`.runbook/`): events the database could not take go to `<localDir>/fallback/<runId>.jsonl`. */
  localDir?: string;
  /** The exact command that clears the lock, named in messages. */
  unlockHint?: string;
  /** The exact command that copies the fallback journals into the database once it is back. */
  reconcileHint?: string;
  /** The exact `runbook status` command for this runbook and state. */
  statusHint?: string;
}

export { isUnreachable } from './db.js';
export { redactUrl };

/** How long a refused apply waits for the server to drop the session of a holder whose process is gone. */
const STALE_WAIT_MS = 3000;

/**
 * The advisory lock key: the two-int4 form, from 64 bits of SHA-256 over schema, runbook and
 * environment (a collision between two runbooks is ~1 in 2^64, not hashtext's 1 in 2^32).
 */
export function advisoryKey(schema: string, owner: RunOwner): [number, number] {
  const digest = createHash('sha256').update(JSON.stringify(['runbook-lock', schema, owner.runbook, owner.environment])).digest();
  return [digest.readInt32BE(0), digest.readInt32BE(4)];
}

/** What a fallback journal was written for, beside it as `<runId>.json`. */
interface FallbackMeta extends RunOwner {
  runId: string;
  schema: string;
  state: string;
}

export function readFallbackMeta(journalPath: string): FallbackMeta | undefined {
  try {
    return JSON.parse(readFileSync(journalPath.replace(/\.jsonl$/, '.json'), 'utf8')) as FallbackMeta;
  } catch {
    return undefined;
  }
}

interface HolderRow {
  pid: number;
  application_name: string | null;
  usename: string | null;
  backend_start: Date | null;
  query_start: Date | null;
  holder: LockHolder | null;
}

/** `runbook:<host>:<pid>:<command>` (application_name is cut at 63 bytes by the server). */
function applicationName(holder: Omit<LockHolder, 'since'>): string {
  return `runbook:${holder.host}:${holder.pid}:${holder.command}`.slice(0, 63);
}

function holderFromRow(row: HolderRow): LockHolder {
  if (row.holder) return row.holder;
  const m = /^runbook:([^:]*):(\d+):(.*)$/.exec(row.application_name ?? '');
  const since = (row.query_start ?? row.backend_start)?.toISOString() ?? '?';
  if (m) return { host: m[1]!, pid: Number(m[2]), user: row.usename ?? '?', command: m[3]!, since };
  return { host: '?', pid: 0, user: row.usename ?? '?', command: `database session ${row.pid} (${row.application_name || 'no application_name'})`, since };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The team backend: runs and events in tables of one schema, per runbook and environment; the
 * lock a session-level advisory lock on a connection of its own, so the server releases it
 * when the holder dies. Every append is one committed INSERT before it resolves.
 */
export class PostgresStateStore implements StateStore {
  readonly db: PostgresStateDb;
  readonly runbook: string;
  readonly environment: string;
  private readonly key: [number, number];
  private readonly lockClients = new Set<Client>();
  /** Set when a connection holding our lock ends without our release: appends must stop. */
  lockLost: Error | undefined;
  readonly snapshots: PostgresSnapshotStore;

  constructor(
    url: string,
    private readonly options: PostgresStoreOptions,
  ) {
    if (!options.runbook) throw new Error('the PostgreSQL state backend needs the runbook name');
    this.db = new PostgresStateDb(url, options);
    this.runbook = options.runbook;
    this.environment = options.environment ?? 'default';
    this.key = advisoryKey(this.db.schema, this.owner);
    this.snapshots = new PostgresSnapshotStore(this.db, this.owner);
  }

  get location(): string {
    return this.db.location;
  }

  get owner(): RunOwner {
    return { runbook: this.runbook, environment: this.environment };
  }

  private get s(): string {
    return this.db.s;
  }

  async lock(holder: Omit<LockHolder, 'since'>): Promise<LockHandle> {
    await this.db.pool(); // the schema exists before anyone holds the lock
    await this.refuseUnreconciled();
    const { default: pg } = await import('pg');
    const waitUntil = Date.now() + STALE_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      const client = new pg.Client(this.db.connectionConfig(applicationName(holder)));
      let released = false;
      client.on('error', (error) => {
        if (!released) this.lockLost ??= this.db.failure(error, 'holding the lock');
      });
      client.on('end', () => {
        this.lockClients.delete(client);
        if (!released) this.lockLost ??= new StateUnavailableError(`the state database ${this.location} is unreachable: the connection holding the lock ended`);
      });
      let got: boolean;
      let other: { holder: LockHolder } | undefined;
      const record: LockHolder = { ...holder, since: new Date().toISOString() };
      try {
        await client.connect();
        this.lockClients.add(client);
        const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::int4, $2::int4) AS ok', this.key);
        got = rows[0]?.ok === true;
        if (got) other = await this.recordHolder(client, record);
      } catch (error) {
        released = true;
        await client.end().catch(() => {});
        throw this.db.failure(error, 'taking the lock');
      }
      if (got && !other) {
        this.lockLost = undefined;
        return {
          release: async () => {
            if (released) return;
            released = true;
            try {
              await client.query(`DELETE FROM ${this.s}.lock_holders WHERE runbook = $1 AND environment = $2 AND backend_pid = pg_backend_pid()`, [this.runbook, this.environment]);
              await client.query('SELECT pg_advisory_unlock($1::int4, $2::int4)', this.key);
            } catch {
              // the connection is gone, and with it the lock
            }
            await client.end().catch(() => {});
          },
        };
      }
      released = true;
      await client.end().catch(() => {});
      if (other) {
        throw new LockedError(other.holder, false, `locked by another run: ${describeHolder(other.holder)} (state ${this.location}, ${this.describeOwner()}; its session holds a different lock key — is it an older runbook?)`);
      }
      const current = await this.findHolder();
      // Released between our try and our look: try again (a few times), else report what we know.
      if (!current && attempt < 3) continue;
      // The holder's process is gone: the server drops its session (and lock) as soon as it sees the socket close.
      if (current?.stale && Date.now() < waitUntil) {
        await sleep(200);
        continue;
      }
      const h = current?.holder ?? { pid: 0, host: '?', user: '?', command: '?', since: '?' };
      const stale = current?.stale ?? false;
      const where = `state ${this.location}, ${this.describeOwner()}`;
      const clear = this.options.unlockHint ? ` Check nothing is running, then clear it with: ${this.options.unlockHint}` : '';
      throw new LockedError(
        h,
        stale,
        stale ? `stale lock: held by ${describeHolder(h)} (${where}), but that process is gone and its database session is still open.${clear}` : `locked by another run: ${describeHolder(h)} (${where})`,
      );
    }
  }

  /**
   * Records us as the holder, on the connection that holds the advisory lock. A row of another
   * live session that recorded itself earlier means it holds this runbook by another key (an
   * older runbook): that holder is returned and we must not proceed.
   */
  private async recordHolder(client: Client, record: LockHolder): Promise<{ holder: LockHolder } | undefined> {
    const { rows } = await client.query<{ holder: LockHolder }>(
      `SELECT h.holder FROM ${this.s}.lock_holders h JOIN pg_stat_activity a ON a.pid = h.backend_pid
        WHERE h.runbook = $1 AND h.environment = $2 AND h.backend_pid <> pg_backend_pid() AND a.backend_start <= h.locked_at`,
      [this.runbook, this.environment],
    );
    if (rows[0]) {
      await client.query('SELECT pg_advisory_unlock($1::int4, $2::int4)', this.key);
      return { holder: rows[0].holder };
    }
    await client.query(
      `INSERT INTO ${this.s}.lock_holders (runbook, environment, backend_pid, holder, locked_at) VALUES ($1, $2, pg_backend_pid(), $3, now())
       ON CONFLICT (runbook, environment) DO UPDATE SET backend_pid = EXCLUDED.backend_pid, holder = EXCLUDED.holder, locked_at = EXCLUDED.locked_at`,
      [this.runbook, this.environment, JSON.stringify(record)],
    );
    return undefined;
  }

  private describeOwner(): string {
    return `runbook ${this.runbook}, environment ${this.environment}`;
  }

  /** The session holding our advisory lock, from pg_locks + pg_stat_activity and the holder row it wrote. */
  private async findHolder(): Promise<{ holder: LockHolder; stale: boolean; backendPid: number } | null> {
    const rows = await this.db.query<HolderRow>(
      'looking up the lock holder',
      `SELECT a.pid, a.application_name, a.usename, a.backend_start, a.query_start, h.holder
         FROM pg_locks l
         JOIN pg_stat_activity a ON a.pid = l.pid
         LEFT JOIN ${this.s}.lock_holders h ON h.runbook = $3 AND h.environment = $4 AND h.backend_pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid::bigint = $1 AND l.objid::bigint = $2`,
      [this.key[0] >>> 0, this.key[1] >>> 0, this.runbook, this.environment],
    );
    const row = rows[0];
    if (!row) return null;
    const holder = holderFromRow(row);
    return { holder, stale: holder.pid > 0 && isStale(holder), backendPid: row.pid };
  }

  async lockHolder(): Promise<{ holder: LockHolder; stale: boolean } | null> {
    const found = await this.findHolder();
    return found ? { holder: found.holder, stale: found.stale } : null;
  }

  /** A live lock is cleared only with `force`, by ending the holder's session (the server then drops its lock). */
  async unlock(force: boolean): Promise<LockHolder | null> {
    const current = await this.findHolder();
    if (!current) return null;
    if (!current.stale && !force) return current.holder;
    await this.db.query("ending the lock holder's session", 'SELECT pg_terminate_backend($1)', [current.backendPid]);
    await this.db.query('clearing the lock holder', `DELETE FROM ${this.s}.lock_holders WHERE runbook = $1 AND environment = $2 AND backend_pid = $3`, [this.runbook, this.environment, current.backendPid]);
    return current.holder;
  }

  async createRun(runId: string): Promise<PostgresRunJournal> {
    await this.db.query('creating the run', `INSERT INTO ${this.s}.runs (run_id, runbook, environment) VALUES ($1, $2, $3)`, [runId, this.runbook, this.environment]);
    return new PostgresRunJournal(this, runId, 0);
  }

  async openRun(runId: string): Promise<PostgresRunJournal> {
    const rows = await this.db.query<{ next: number | null }>(
      'opening the run',
      `SELECT (SELECT max(seq) + 1 FROM ${this.s}.events WHERE run_id = r.run_id) AS next FROM ${this.s}.runs r WHERE r.run_id = $1 AND r.runbook = $2 AND r.environment = $3`,
      [runId, this.runbook, this.environment],
    );
    if (!rows[0]) throw this.noRun(runId);
    return new PostgresRunJournal(this, runId, rows[0].next ?? 0);
  }

  private noRun(runId: string): Error {
    return new RunNotFoundError(runId, `no run ${runId} of ${this.describeOwner()} in ${this.location}`);
  }

  async listRuns(): Promise<RunSummary[]> {
    const rows = await this.db.query<{ run_id: string; created_at: Date; started_at: string | null; last_type: string | null; finished: boolean }>(
      'listing runs',
      `SELECT r.run_id, r.created_at, f.event->>'at' AS started_at, l.type AS last_type,
              EXISTS (SELECT 1 FROM ${this.s}.events e WHERE e.run_id = r.run_id AND e.type = 'run.finished') AS finished
         FROM ${this.s}.runs r
         LEFT JOIN LATERAL (SELECT event FROM ${this.s}.events e WHERE e.run_id = r.run_id ORDER BY seq LIMIT 1) f ON true
         LEFT JOIN LATERAL (SELECT type FROM ${this.s}.events e WHERE e.run_id = r.run_id ORDER BY seq DESC LIMIT 1) l ON true
        WHERE r.runbook = $1 AND r.environment = $2
        ORDER BY r.run_id`,
      [this.runbook, this.environment],
    );
    return rows.map((r) => ({ runId: r.run_id, startedAt: r.started_at ?? r.created_at.toISOString(), lastEvent: r.last_type ?? 'none', finished: r.finished }));
  }

  async environmentOfRun(runId: string): Promise<string | undefined> {
    const rows = await this.db.query<{ environment: string }>('looking up the run', `SELECT environment FROM ${this.s}.runs WHERE run_id = $1 AND runbook = $2`, [runId, this.runbook]);
    return rows[0]?.environment;
  }

  async environmentsWithRuns(): Promise<string[]> {
    const rows = await this.db.query<{ environment: string }>('listing environments', `SELECT DISTINCT environment FROM ${this.s}.runs WHERE runbook = $1`, [this.runbook]);
    return rows.map((r) => r.environment);
  }

  async readRun(runId: string): Promise<RunRead> {
    const rows = await this.db.query<{ event: JournalEvent | null }>(
      'reading the run',
      `SELECT e.event FROM ${this.s}.runs r LEFT JOIN ${this.s}.events e ON e.run_id = r.run_id
        WHERE r.run_id = $1 AND r.runbook = $2 AND r.environment = $3 ORDER BY e.seq`,
      [runId, this.runbook, this.environment],
    );
    if (!rows.length) throw this.noRun(runId);
    return { events: rows.flatMap((r) => (r.event ? [r.event] : [])), torn: false };
  }

  /** Deletes a run's events and the run, in one transaction that lifts the events' append-only rule for itself only. */
  async removeRun(runId: string): Promise<void> {
    await this.db.transaction(`removing run ${runId}`, async (client) => {
      await client.query(`SET LOCAL runbook.prune = 'on'`);
      const { rowCount } = await client.query(`SELECT 1 FROM ${this.s}.runs WHERE run_id = $1 AND runbook = $2 AND environment = $3 FOR UPDATE`, [runId, this.runbook, this.environment]);
      if (!rowCount) return;
      await client.query(`DELETE FROM ${this.s}.events WHERE run_id = $1`, [runId]);
      await client.query(`DELETE FROM ${this.s}.runs WHERE run_id = $1`, [runId]);
    });
  }

  /** Where snapshots go while the database is unreachable: beside the fallback journals, copied on reconcile. */
  fallbackSnapshots(): FileSnapshotStore {
    return new FileSnapshotStore(join(this.fallbackDir(), 'snapshots'));
  }

  private fallbackDir(): string {
    return join(resolve(this.options.localDir ?? '.runbook'), 'fallback');
  }

  /** Where events the database could not take are kept for this run. */
  fallbackPath(runId: string): string {
    return join(this.fallbackDir(), `${runId}.jsonl`);
  }

  /** Says, beside a run's fallback journal, which runbook, environment and database it belongs to. */
  writeFallbackMeta(runId: string): void {
    const meta: FallbackMeta = { runId, ...this.owner, schema: this.db.schema, state: this.location };
    const fd = openSync(join(this.fallbackDir(), `${runId}.json`), 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(meta) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  get hints(): { reconcileHint?: string; statusHint?: string } {
    return { reconcileHint: this.options.reconcileHint, statusHint: this.options.statusHint };
  }

  /** Fallback journals of this runbook and environment still waiting in `<localDir>/fallback/`. */
  async unreconciled(): Promise<UnreconciledJournal[]> {
    const dir = this.fallbackDir();
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.jsonl'));
    } catch {
      return [];
    }
    const reconcile = this.options.reconcileHint ?? `runbook state migrate --from ${dir}`;
    return names.sort().flatMap((name) => {
      const path = join(dir, name);
      const meta = readFallbackMeta(path);
      // Without its meta file we cannot tell whose it is: count it, rather than risk losing it.
      if (meta && (meta.runbook !== this.runbook || meta.environment !== this.environment)) return [];
      let events = 0;
      try {
        events = readJournalFile(path).events.length;
      } catch {
        // unreadable: still pending, and migrate will say what is wrong with it
      }
      return [{ runId: name.slice(0, -'.jsonl'.length), path, events, reconcile }];
    });
  }

  /** apply and rollback must not write on top of events that only exist locally (their seq would be taken twice). */
  private async refuseUnreconciled(): Promise<void> {
    const pending = await this.unreconciled();
    if (!pending.length) return;
    const list = pending.map((p) => `run ${p.runId} has ${p.events} event(s) in ${p.path}`).join('; ');
    throw new StateUnavailableError(
      `the state database ${this.location} does not have every event of ${this.describeOwner()} yet (it was unreachable during a run): ${list}. Nothing was done. Reconcile first with: ${pending[0]!.reconcile}`,
    );
  }

  async close(): Promise<void> {
    for (const client of [...this.lockClients]) await client.end().catch(() => {});
    await this.db.close();
  }
}

/**
 * A run's events in the database. When an event cannot be committed (database unreachable,
 * lock lost) it goes to the local fallback journal instead and the append rejects, so the
 * executor stops before the work the event announces; every later event follows it there.
 */
export class PostgresRunJournal implements RunJournal {
  private seq: number;
  private fallback: FileRunJournal | undefined;
  private failure: Error | undefined;
  /** The database's snapshot table; once the database failed, the local fallback store (the event referencing it follows it there). */
  readonly snapshots: SnapshotStore;

  constructor(
    private readonly store: PostgresStateStore,
    readonly runId: string,
    nextSeq: number,
  ) {
    this.seq = nextSeq;
    this.snapshots = {
      location: store.snapshots.location,
      put: (bytes) => this.putSnapshot(bytes),
      get: (digest) => this.getSnapshot(digest),
      list: () => store.snapshots.list(),
      remove: (digests) => store.snapshots.remove(digests),
    };
  }

  private async putSnapshot(bytes: Buffer): Promise<string> {
    if (!this.failure) {
      try {
        if (this.store.lockLost) throw this.store.lockLost;
        return await this.store.snapshots.put(bytes);
      } catch (error) {
        this.failure = error instanceof Error ? error : new Error(String(error));
      }
    }
    mkdirSync(join(this.store.fallbackPath(this.runId), '..'), { recursive: true });
    return this.store.fallbackSnapshots().put(bytes);
  }

  private async getSnapshot(digest: string): Promise<Buffer> {
    try {
      return await this.store.snapshots.get(digest);
    } catch (error) {
      // Stored locally while the database was unreachable (this same run, before a reconcile).
      return this.store.fallbackSnapshots().get(digest).catch(() => {
        throw error;
      });
    }
  }

  async append(event: EngineEvent, _durable = true): Promise<void> {
    if (!this.failure) {
      const record: JournalEvent = { ...event, seq: this.seq, at: new Date().toISOString() };
      try {
        if (this.store.lockLost) throw this.store.lockLost;
        crashPoint('before', record.seq);
        await this.store.db.insertEvent(this.runId, record);
        crashPoint('after', record.seq);
        this.seq++;
        return;
      } catch (error) {
        this.failure = error instanceof Error ? error : new Error(String(error));
      }
    }
    const path = this.store.fallbackPath(this.runId);
    let kept: string;
    try {
      if (!this.fallback) {
        mkdirSync(join(path, '..'), { recursive: true });
        const create = !existsSync(path);
        if (create) this.store.writeFallbackMeta(this.runId);
        this.fallback = new FileRunJournal(this.runId, path, this.seq, create, this.snapshots);
      }
      this.fallback.appendSync(event, true);
      await fsyncDir(join(path, '..'));
      this.seq++;
      kept = `the event (${event.type}) was kept in the local fallback journal ${path}`;
    } catch (error) {
      kept = `the local fallback journal ${path} could not be written either (${(error as Error).message}): the event is lost`;
    }
    const { reconcileHint, statusHint } = this.store.hints;
    throw new StateUnavailableError(
      `${this.store.db.scrub(this.failure.message)}; ${kept}. Stopped before the next step. Once the database is back, reconcile with: ${reconcileHint ?? 'runbook state migrate --from <the fallback dir>'} — then check the run with: ${statusHint ?? 'runbook status'}`,
    );
  }

  async close(): Promise<void> {
    await this.fallback?.close();
  }
}
