import { hostname } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import type { Pool, PoolClient } from 'pg';
import type { JournalEvent } from '../../model/events.js';
import { redactUrl } from '../../support/redact-url.js';
import { StateUnavailableError, StateUnusableError } from '../contract.js';
import { migrateSchema, quoteIdent, SchemaTooNewError } from './schema.js';

export interface PostgresDbOptions {
  /** Schema holding the tables (default `runbook`), created on first use. */
  schema?: string;
  /** Milliseconds to wait for a connection (default 5000). */
  connectTimeoutMs?: number;
  /** Milliseconds a statement may take before the database counts as unreachable (default 30000). */
  queryTimeoutMs?: number;
}

/** Which runbook and environment a run belongs to. */
export interface RunOwner {
  runbook: string;
  environment: string;
}

/** Socket-level failures and SQLSTATE classes 08 (connection) / 57P (shutdown, terminated). */
export function isUnreachable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)$/.test(code) || /^(08|57P0)/.test(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|connection timeout|Query read timeout|not queryable|connection error|ended unexpectedly/i.test(message);
}

/** A stored event and one being imported share run and seq but differ: importing would lose one. */
export class EventConflictError extends Error {
  constructor(
    readonly runId: string,
    readonly seq: number,
    stored: JournalEvent,
    incoming: JournalEvent,
  ) {
    super(`run ${runId} event ${seq} differs: the database has ${stored.type} (at ${stored.at}), the journal being imported has ${incoming.type} (at ${incoming.at})`);
    this.name = 'EventConflictError';
  }
}

/**
 * One PostgreSQL state database: the connection pool, the schema (created and migrated on
 * first use), and every failure turned into a message fit to show — never the password.
 */
export class PostgresStateDb {
  readonly location: string;
  readonly schema: string;
  /** The schema name quoted for SQL. */
  readonly s: string;
  private readonly password: string;
  private poolPromise: Promise<Pool> | undefined;

  constructor(
    private readonly url: string,
    private readonly options: PostgresDbOptions = {},
  ) {
    this.location = redactUrl(url);
    this.schema = options.schema ?? 'runbook';
    this.s = quoteIdent(this.schema);
    let password = '';
    try {
      password = decodeURIComponent(new URL(url).password);
    } catch {
      // unparsable URL: pg will say so; there is no password to hide
    }
    this.password = password;
  }

  /** A message with the password and the raw URL taken out, on one line. */
  scrub(text: string): string {
    let out = text.split(this.url).join(this.location);
    if (this.password) out = out.split(this.password).join('***');
    if (this.password && encodeURIComponent(this.password) !== this.password) out = out.split(encodeURIComponent(this.password)).join('***');
    return out.replace(/\s*\n\s*/g, ' ').trim();
  }

  /** `host 127.0.0.1, port 5432, database app`: where we tried to connect. */
  target(): string {
    try {
      const u = new URL(this.url);
      const host = u.searchParams.get('host') ?? (u.hostname || 'localhost');
      const port = u.searchParams.get('port') ?? (u.port || '5432');
      const database = decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username) || '?';
      return `host ${host}, port ${port}, database ${database}`;
    } catch {
      return 'unparsable URL';
    }
  }

  /** The database failure as an Error fit to show: what failed, where, why; never the password. */
  failure(error: unknown, doing: string): Error {
    if (error instanceof StateUnusableError || error instanceof StateUnavailableError || error instanceof EventConflictError) return error;
    const cause = this.scrub(error instanceof Error ? error.message || String((error as { code?: unknown }).code ?? error.name) : String(error));
    const what = isUnreachable(error) ? `the state database ${this.location} is unreachable` : `the state database ${this.location} failed`;
    return new StateUnavailableError(`${what} while ${doing}: ${cause}`);
  }

  connectionConfig(applicationName: string) {
    return {
      connectionString: this.url,
      application_name: applicationName,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000,
      query_timeout: this.options.queryTimeoutMs ?? 30_000,
      keepAlive: true,
    };
  }

  /** The first use failed: nothing was done yet, so this is a clear refusal (exit 2), not a stop. */
  private unusable(error: unknown): StateUnusableError {
    if (error instanceof SchemaTooNewError) return new StateUnusableError(`${this.location}: ${error.message}`);
    const cause = this.scrub(error instanceof Error ? error.message || String((error as { code?: unknown }).code ?? error.name) : String(error));
    const what = isUnreachable(error) ? 'is unreachable' : 'cannot be used';
    return new StateUnusableError(`the state database ${this.location} (${this.target()}) ${what}: ${cause}; nothing was done`);
  }

  /** The pool, connected once and the schema brought up to date; rejects with StateUnusableError. */
  pool(): Promise<Pool> {
    this.poolPromise ??= (async () => {
      let pool: Pool | undefined;
      try {
        const { default: pg } = await import('pg');
        pool = new pg.Pool({
          ...this.connectionConfig(`runbook:${hostname()}:${process.pid}`),
          max: 4,
          allowExitOnIdle: true,
          // A commit is on the server's disk before the work it announces proceeds, whatever the server's
          // default: with synchronous_commit off, a server crash loses the last acknowledged events. Set
          // before the pool hands the connection out (a query queued behind it makes pg warn on stderr).
          onConnect: async (client) => {
            await client.query('SET synchronous_commit TO on');
          },
        });
        // An idle connection dropped by the server must not crash the process; the next query reports it.
        pool.on('error', () => {});
        const client = await pool.connect();
        try {
          await migrateSchema(client, this.schema);
        } finally {
          client.release();
        }
        return pool;
      } catch (error) {
        await pool?.end().catch(() => {});
        throw this.unusable(error);
      }
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
  async transaction<T>(doing: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
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
      throw this.failure(error, doing);
    } finally {
      client.release();
    }
  }

  /** One committed INSERT: the event is durable when this resolves. */
  async insertEvent(runId: string, record: JournalEvent): Promise<void> {
    await this.query('recording an event', `INSERT INTO ${this.s}.events (run_id, seq, at, type, event) VALUES ($1, $2, $3, $4, $5)`, [runId, record.seq, record.at, record.type, JSON.stringify(record)]);
  }

  /**
   * Adds a run's events as they were recorded (seq and at kept), creating the run for `owner`
   * if new, in one transaction. An event already stored identically is skipped (so an import
   * can be repeated); one stored with the same seq but different content is an
   * EventConflictError and nothing of the run is imported. Returns how many were added.
   * `snapshots` (compressed, as stored) are added with them, for the run's runbook and environment.
   */
  async importEvents(runId: string, events: JournalEvent[], owner: RunOwner, snapshots: { digest: string; size: number; data: Buffer }[] = []): Promise<number> {
    return this.transaction(`importing run ${runId}`, async (client) => {
      await client.query(`INSERT INTO ${this.s}.runs (run_id, runbook, environment) VALUES ($1, $2, $3) ON CONFLICT (run_id) DO NOTHING`, [runId, owner.runbook, owner.environment]);
      // The snapshots its events reference first, in the same transaction: no event without its snapshot.
      for (const snap of snapshots) {
        await client.query(`INSERT INTO ${this.s}.snapshots (runbook, environment, digest, size, data) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (runbook, environment, digest) DO NOTHING`, [
          owner.runbook,
          owner.environment,
          snap.digest,
          snap.size,
          snap.data,
        ]);
      }
      let added = 0;
      for (const event of events) {
        const r = await client.query(`INSERT INTO ${this.s}.events (run_id, seq, at, type, event) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, seq) DO NOTHING`, [
          runId,
          event.seq,
          event.at,
          event.type,
          JSON.stringify(event),
        ]);
        if (r.rowCount) {
          added++;
          continue;
        }
        const { rows } = await client.query<{ event: JournalEvent }>(`SELECT event FROM ${this.s}.events WHERE run_id = $1 AND seq = $2`, [runId, event.seq]);
        if (!isDeepStrictEqual(rows[0]?.event, event)) throw new EventConflictError(runId, event.seq, rows[0]!.event, event);
      }
      return added;
    });
  }

  async close(): Promise<void> {
    const pending = this.poolPromise;
    this.poolPromise = undefined;
    if (pending) await (await pending.catch(() => undefined))?.end().catch(() => {});
  }
}
