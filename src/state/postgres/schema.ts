import type { PoolClient } from 'pg';

/** `"name"` with embedded quotes doubled: the only way a schema name reaches SQL. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Forward migrations of the state schema, applied in order on first use. Append new ones;
 * never edit one that has shipped (the recorded version says which ran).
 */
export const MIGRATIONS: readonly ((schema: string) => string)[] = [
  // 1: runs, their append-only events, and who holds each lock (the lock itself is an advisory lock).
  (s) => `
    CREATE TABLE ${s}.runs (
      run_id     text PRIMARY KEY,
      lock_key   text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX runs_lock_key ON ${s}.runs (lock_key, run_id);
    CREATE TABLE ${s}.events (
      run_id text NOT NULL REFERENCES ${s}.runs (run_id),
      seq    integer NOT NULL,
      at     timestamptz NOT NULL,
      type   text NOT NULL,
      event  json NOT NULL,
      PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE ${s}.lock_holders (
      lock_key    text PRIMARY KEY,
      backend_pid integer NOT NULL,
      holder      json NOT NULL
    );`,
  // 2: runs, history and the lock per environment (staging and prod of one runbook are separate),
  // the server's time a holder took the lock; events append-only in the database itself:
  // UPDATE, DELETE and TRUNCATE on them raise.
  (s) => `
    ALTER TABLE ${s}.runs RENAME COLUMN lock_key TO runbook;
    ALTER TABLE ${s}.runs ADD COLUMN environment text NOT NULL DEFAULT 'default';
    DROP INDEX ${s}.runs_lock_key;
    CREATE INDEX runs_runbook_environment ON ${s}.runs (runbook, environment, run_id);
    ALTER TABLE ${s}.lock_holders RENAME COLUMN lock_key TO runbook;
    ALTER TABLE ${s}.lock_holders ADD COLUMN environment text NOT NULL DEFAULT 'default';
    ALTER TABLE ${s}.lock_holders ADD COLUMN locked_at timestamptz NOT NULL DEFAULT now();
    ALTER TABLE ${s}.lock_holders DROP CONSTRAINT lock_holders_pkey;
    ALTER TABLE ${s}.lock_holders ADD PRIMARY KEY (runbook, environment);
    CREATE FUNCTION ${s}.events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'runbook state events are append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
          USING ERRCODE = 'insufficient_privilege';
      END $$;
    CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON ${s}.events
      FOR EACH ROW EXECUTE FUNCTION ${s}.events_append_only();
    CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON ${s}.events
      FOR EACH STATEMENT EXECUTE FUNCTION ${s}.events_append_only();`,
  // 3: snapshots out of the journal (the bytes inverses need: compressed, by sha256, stored once
  // per runbook and environment); a run's events may be deleted only by `history --prune`, which
  // says so for its own transaction (SET LOCAL runbook.prune = 'on'). UPDATE and TRUNCATE still raise.
  (s) => `
    CREATE TABLE ${s}.snapshots (
      runbook     text NOT NULL,
      environment text NOT NULL,
      digest      text NOT NULL,
      size        integer NOT NULL,
      data        bytea NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (runbook, environment, digest)
    );
    CREATE OR REPLACE FUNCTION ${s}.events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND current_setting('runbook.prune', true) = 'on' THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'runbook state events are append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
          USING ERRCODE = 'insufficient_privilege';
      END $$;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** The schema was migrated by a newer runbook: this one must not read or write it. */
export class SchemaTooNewError extends Error {
  constructor(schema: string, version: number) {
    super(`the state schema "${schema}" is at version ${version}, newer than this runbook knows (${SCHEMA_VERSION}); upgrade runbook to use it (nothing was written)`);
    this.name = 'SchemaTooNewError';
  }
}

/**
 * Creates the schema and brings it to SCHEMA_VERSION, in one transaction serialised by an
 * advisory lock so two first uses at once do not race. Refuses a schema newer than this code.
 */
export async function migrateSchema(client: PoolClient, schema: string): Promise<void> {
  const s = quoteIdent(schema);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`runbook-schema:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${s}.schema_version`);
    const current = rows[0]?.v ?? 0;
    if (current > SCHEMA_VERSION) throw new SchemaTooNewError(schema, current);
    for (let v = current + 1; v <= SCHEMA_VERSION; v++) {
      await client.query(MIGRATIONS[v - 1]!(s));
      await client.query(`INSERT INTO ${s}.schema_version (version) VALUES ($1)`, [v]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
