import { existsSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Client, Pool, PoolClient } from 'pg';
import type { EngineEvent, JournalEvent } from '../engine/events.js';
import { LockedError, StateUnavailableError, type LockHandle, type LockHolder, type RunJournal, type RunRead, type RunSummary, type StateStore } from './contract.js';
import { FileRunJournal } from './journal-file.js';
import { describeHolder, isStale } from './lock-file.js';
import { redactUrl } from '../steps/redact-url.js';
import { migrateSchema, quoteIdent } from './postgres-schema.js';

export interface PostgresStoreOptions {
  /** What the lock protects: the runbook's name (and environment). Runs are listed per key. */
  key: string;
  /** Schema holding the tables (default `runbook`), created on first use. */
  schema?: string;
  /** The local state dir (`.runbook/`): events the database could not take go to `<localDir>/fallback/<runId>.jsonl`. */
  localDir?: string;
  /** How to clear the lock, named in messages (e.g. `runbook unlock deploy.yaml --state …`). */
  unlockHint?: string;
  /** How to copy a fallback journal back once the database is up, named when an append fails. */
  reconcileHint?: string;
  /** Milliseconds to wait for a connection (default 5000). */
  connectTimeoutMs?: number;
  /** Milliseconds a statement may take before the database counts as unreachable (default 30000). */
  queryTimeoutMs?: number;
}

export { redactUrl };

/** Socket-level failures and SQLSTATE classes 08 (connection) / 57P (shutdown, terminated). */
export function isUnreachable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)$/.test(code) || /^(08|57P0)/.test(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|connection timeout|Query read timeout|not queryable|connection error|ended unexpectedly/i.test(message);
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

/**
 * The team backend: runs and events in tables of one schema, the lock a session-level
 * advisory lock on a connection of its own, so the server releases it when the holder dies.
 * Every append is one committed INSERT before it resolves.
 */
export class PostgresStateStore implements StateStore {
  readonly location: string;
  readonly schema: string;
  readonly key: string;
  private readonly s: string;
  private readonly password: string;
  private readonly lockKey: string;
  private poolPromise: Promise<Pool> | undefined;
  private readonly lockClients = new Set<Client>();
  /** Set when a connection holding our lock ends without our release: appends must stop. */
  lockLost: Error | undefined;

  constructor(
    private readonly url: string,
    private readonly options: PostgresStoreOptions,
  ) {
    if (!options.key) throw new Error('the PostgreSQL state backend needs a lock key (the runbook name)');
    this.location = redactUrl(url);
    this.schema = options.schema ?? 'runbook';
    this.key = options.key;
    this.s = quoteIdent(this.schema);
    this.lockKey = `runbook:${this.schema}:${options.key}`;
    let password = '';
    try {
      password = decodeURIComponent(new URL(url).password);
    } catch {
      // unparsable URL: pg will say so; there is no password to hide
    }
    this.password = password;
  }

  /** A message with the password and the raw URL taken out. */
  scrub(text: string): string {
    let out = text.split(this.url).join(this.location);
    if (this.password) out = out.split(this.password).join('***');
    if (this.password && encodeURIComponent(this.password) !== this.password) out = out.split(encodeURIComponent(this.password)).join('***');
    return out;
  }

  /** The database failure as an Error fit to show: what failed, where, why; never the password. */
  failure(error: unknown, doing: string): Error {
    const cause = this.scrub(error instanceof Error ? error.message || String((error as { code?: unknown }).code ?? error.name) : String(error));
    const what = isUnreachable(error) ? `the state database ${this.location} is unreachable` : `the state database ${this.location} failed`;
    return new Error(`${what} while ${doing}: ${cause}`);
  }

  private connectionConfig(applicationName: string) {
    return {
      connectionString: this.url,
      application_name: applicationName,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000,
      query_timeout: this.options.queryTimeoutMs ?? 30_000,
      keepAlive: true,
    };
  }

  private pool(): Promise<Pool> {
    this.poolPromise ??= (async () => {
      const { default: pg } = await import('pg');
      const pool = new pg.Pool({ ...this.connectionConfig(`runbook:${hostname()}:${process.pid}`), max: 4, allowExitOnIdle: true });
      // An idle connection dropped by the server must not crash the process; the next query reports it.
      pool.on('error', () => {});
      try {
        const client = await pool.connect();
        try {
          await migrateSchema(client, this.schema);
        } finally {
          client.release();
        }
      } catch (error) {
        await pool.end().catch(() => {});
        throw error;
      }
      return pool;
    })();
    const pending = this.poolPromise;
    // A failed first use (database down) may be retried by the next call.
    pending.catch(() => {
      if (this.poolPromise === pending) this.poolPromise = undefined;
    });
    return pending;
  }

  /** Runs one statement (autocommit: committed when it resolves); failures come back scrubbed. */
  async query<R extends object>(doing: string, sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      const pool = await this.pool();
      const result = await pool.query<R>(sql, params);
      return result.rows;
    } catch (error) {
      throw this.failure(error, doing);
    }
  }

  /** Runs `fn` in one transaction on one connection. */
  private async transaction<T>(doing: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await (await this.pool()).connect();
    } catch (error) {
      throw this.failure(error, doing);
    }
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error instanceof Error && error.message.startsWith('the state database') ? error : this.failure(error, doing);
    } finally {
      client.release();
    }
  }

  async lock(holder: Omit<LockHolder, 'since'>): Promise<LockHandle> {
    try {
      await this.pool(); // schema exists before anyone holds the lock
    } catch (error) {
      throw this.failure(error, 'taking the lock');
    }
    const { default: pg } = await import('pg');
    for (let attempt = 0; ; attempt++) {
      const client = new pg.Client(this.connectionConfig(applicationName(holder)));
      let released = false;
      client.on('error', (error) => {
        if (!released) this.lockLost ??= this.failure(error, 'holding the lock');
      });
      client.on('end', () => {
        this.lockClients.delete(client);
        if (!released) this.lockLost ??= new Error(`the state database ${this.location} is unreachable: the connection holding the lock ended`);
      });
      let got: boolean;
      const record: LockHolder = { ...holder, since: new Date().toISOString() };
      try {
        await client.connect();
        this.lockClients.add(client);
        const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [this.lockKey]);
        got = rows[0]?.ok === true;
        if (got) {
          await client.query(
            `INSERT INTO ${this.s}.lock_holders (lock_key, backend_pid, holder) VALUES ($1, pg_backend_pid(), $2)
             ON CONFLICT (lock_key) DO UPDATE SET backend_pid = EXCLUDED.backend_pid, holder = EXCLUDED.holder`,
            [this.key, JSON.stringify(record)],
          );
        }
      } catch (error) {
        released = true;
        await client.end().catch(() => {});
        throw this.failure(error, 'taking the lock');
      }
      if (got) {
        this.lockLost = undefined;
        return {
          release: async () => {
            if (released) return;
            released = true;
            try {
              await client.query(`DELETE FROM ${this.s}.lock_holders WHERE lock_key = $1 AND backend_pid = pg_backend_pid()`, [this.key]);
              await client.query('SELECT pg_advisory_unlock(hashtext($1))', [this.lockKey]);
            } catch {
              // the connection is gone, and with it the lock
            }
            await client.end().catch(() => {});
          },
        };
      }
      released = true;
      await client.end().catch(() => {});
      const current = await this.findHolder();
      // Released between our try and our look: try again (a few times), else report what we know.
      if (!current && attempt < 3) continue;
      const h = current?.holder ?? { pid: 0, host: '?', user: '?', command: '?', since: '?' };
      const stale = current?.stale ?? false;
      const hint = this.options.unlockHint ? `; if it is gone, clear it with: ${this.options.unlockHint}` : '';
      throw new LockedError(h, stale, `locked by another run: ${describeHolder(h)} (state ${this.location})${stale ? hint : ''}`);
    }
  }

  /** The session holding our advisory lock, from pg_locks + pg_stat_activity and the holder row it wrote. */
  private async findHolder(): Promise<{ holder: LockHolder; stale: boolean; backendPid: number } | null> {
    const rows = await this.query<HolderRow>(
      'looking up the lock holder',
      `SELECT a.pid, a.application_name, a.usename, a.backend_start, a.query_start, h.holder
         FROM pg_locks l
         JOIN pg_stat_activity a ON a.pid = l.pid
         LEFT JOIN ${this.s}.lock_holders h ON h.lock_key = $2 AND h.backend_pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid::bigint = ((hashtext($1)::bigint >> 32) & 4294967295)
          AND l.objid::bigint = (hashtext($1)::bigint & 4294967295)`,
      [this.lockKey, this.key],
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
    await this.query('ending the lock holder\'s session', 'SELECT pg_terminate_backend($1)', [current.backendPid]);
    await this.query('clearing the lock holder', `DELETE FROM ${this.s}.lock_holders WHERE lock_key = $1 AND backend_pid = $2`, [this.key, current.backendPid]);
    return current.holder;
  }

  async createRun(runId: string): Promise<PostgresRunJournal> {
    await this.query('creating the run', `INSERT INTO ${this.s}.runs (run_id, lock_key) VALUES ($1, $2)`, [runId, this.key]);
    return new PostgresRunJournal(this, runId, 0);
  }

  async openRun(runId: string): Promise<PostgresRunJournal> {
    const rows = await this.query<{ next: number | null }>(
      'opening the run',
      `SELECT (SELECT max(seq) + 1 FROM ${this.s}.events WHERE run_id = r.run_id) AS next FROM ${this.s}.runs r WHERE r.run_id = $1`,
      [runId],
    );
    if (!rows[0]) throw new Error(`no run ${runId} in ${this.location}`);
    return new PostgresRunJournal(this, runId, rows[0].next ?? 0);
  }

  async listRuns(): Promise<RunSummary[]> {
    const rows = await this.query<{ run_id: string; created_at: Date; started_at: string | null; last_type: string | null; finished: boolean }>(
      'listing runs',
      `SELECT r.run_id, r.created_at, f.event->>'at' AS started_at, l.type AS last_type,
              EXISTS (SELECT 1 FROM ${this.s}.events e WHERE e.run_id = r.run_id AND e.type = 'run.finished') AS finished
         FROM ${this.s}.runs r
         LEFT JOIN LATERAL (SELECT event FROM ${this.s}.events e WHERE e.run_id = r.run_id ORDER BY seq LIMIT 1) f ON true
         LEFT JOIN LATERAL (SELECT type FROM ${this.s}.events e WHERE e.run_id = r.run_id ORDER BY seq DESC LIMIT 1) l ON true
        WHERE r.lock_key = $1
        ORDER BY r.run_id`,
      [this.key],
    );
    return rows.map((r) => ({ runId: r.run_id, startedAt: r.started_at ?? r.created_at.toISOString(), lastEvent: r.last_type ?? 'none', finished: r.finished }));
  }

  async readRun(runId: string): Promise<RunRead> {
    const rows = await this.query<{ event: JournalEvent; present: boolean }>(
      'reading the run',
      `SELECT e.event, true AS present FROM ${this.s}.runs r LEFT JOIN ${this.s}.events e ON e.run_id = r.run_id WHERE r.run_id = $1 ORDER BY e.seq`,
      [runId],
    );
    if (!rows.length) throw new Error(`no run ${runId} in ${this.location}`);
    return { events: rows.filter((r) => r.event !== null).map((r) => r.event), torn: false };
  }

  /** One committed INSERT: the event is durable when this resolves. */
  async insertEvent(runId: string, record: JournalEvent): Promise<void> {
    await this.query('recording an event', `INSERT INTO ${this.s}.events (run_id, seq, at, type, event) VALUES ($1, $2, $3, $4, $5)`, [
      runId,
      record.seq,
      record.at,
      record.type,
      JSON.stringify(record),
    ]);
  }

  /**
   * Adds a run's events as they were recorded (seq and at kept), creating the run if new;
   * events whose seq is already stored are skipped. One transaction. Returns how many were added.
   */
  async importEvents(runId: string, events: JournalEvent[]): Promise<number> {
    return this.transaction(`importing run ${runId}`, async (client) => {
      await client.query(`INSERT INTO ${this.s}.runs (run_id, lock_key) VALUES ($1, $2) ON CONFLICT (run_id) DO NOTHING`, [runId, this.key]);
      let added = 0;
      for (const event of events) {
        const r = await client.query(`INSERT INTO ${this.s}.events (run_id, seq, at, type, event) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, seq) DO NOTHING`, [
          runId,
          event.seq,
          event.at,
          event.type,
          JSON.stringify(event),
        ]);
        added += r.rowCount ?? 0;
      }
      return added;
    });
  }

  get reconcileHint(): string | undefined {
    return this.options.reconcileHint;
  }

  /** Where events the database could not take are kept for this run. */
  fallbackPath(runId: string): string {
    return join(resolve(this.options.localDir ?? '.runbook'), 'fallback', `${runId}.jsonl`);
  }

  async close(): Promise<void> {
    for (const client of [...this.lockClients]) await client.end().catch(() => {});
    const pending = this.poolPromise;
    this.poolPromise = undefined;
    if (pending) await (await pending.catch(() => undefined))?.end().catch(() => {});
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

  constructor(
    private readonly store: PostgresStateStore,
    readonly runId: string,
    nextSeq: number,
  ) {
    this.seq = nextSeq;
  }

  async append(event: EngineEvent, _durable = true): Promise<void> {
    if (!this.failure) {
      const record: JournalEvent = { ...event, seq: this.seq, at: new Date().toISOString() };
      try {
        if (this.store.lockLost) throw this.store.lockLost;
        await this.store.insertEvent(this.runId, record);
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
        this.fallback = new FileRunJournal(this.runId, path, this.seq, !existsSync(path));
      }
      this.fallback.appendSync(event, true);
      this.seq++;
      kept = `the event (${event.type}) was kept in the local fallback journal ${path}`;
    } catch (error) {
      kept = `the local fallback journal ${path} could not be written either (${(error as Error).message}): the event is lost`;
    }
    const reconcile = this.store.reconcileHint ?? 'copy the fallback journal into it';
    throw new StateUnavailableError(`${this.store.scrub(this.failure.message)}; ${kept}. Stopped before the next step. Once the database is back, ${reconcile}, then check the run with runbook status.`);
  }

  async close(): Promise<void> {
    await this.fallback?.close();
  }
}
