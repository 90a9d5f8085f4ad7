import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { StepFailedError } from '../../src/steps/contract.js';
import { postgresStep, type PostgresParams } from '../../src/steps/postgres.js';
import { freePort, startCluster } from '../../tools/pg-cluster.js';
import { failure, stepCtx } from '../support/step-context.js';

// The real, throwaway cluster the test run started (test/support/global-setup.ts).
const { url, password, port } = inject('pg');
const TABLE = 'steps_pg_items';
let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: url });
  await client.connect();
});
afterAll(async () => {
  await client.query(`drop table if exists ${TABLE}`);
  await client.end();
});
beforeEach(async () => {
  await client.query(`drop table if exists ${TABLE}`);
  await client.query(`create table ${TABLE} (id int primary key, name text not null, ratio float8)`);
  await client.query(`insert into ${TABLE} values (1, 'alpha', 0.1), (2, 'beta', 0.2), (3, 'O''Brien', 0.9)`);
});

const rowsNow = async () => JSON.stringify((await client.query(`select id, name, ratio from ${TABLE} order by id`)).rows);
const run = (p: Omit<PostgresParams, 'url' | 'connectTimeout'> & { url?: string; connectTimeout?: string }, signal?: AbortSignal) =>
  postgresStep.run(postgresStep.normalize!({ url, ...p }), stepCtx(tmpdir(), signal ? { signal } : {}));

describe('postgres step: query expectations', () => {
  it('expect a plain value passes when the first column equals it (count(*) as a number)', async () => {
    expect((await run({ query: `select count(*) from ${TABLE}`, expect: 3 })).detail).toBe('1 row(s), first value "3"');
    await run({ query: `select name from ${TABLE} where id = 2`, expect: 'beta' });
  });

  it('expect a plain value fails naming what came back and what was expected', async () => {
    const e = await failure(run({ query: `select count(*) from ${TABLE}`, expect: 4 }));
    expect(e.message).toBe('query returned "3", expected = 4');
    expect(e.command).toContain(`select count(*) from ${TABLE}`);
  });

  it('a comparison such as "< 0.5" passes and fails on the number', async () => {
    await run({ query: `select avg(ratio) from ${TABLE} where id < 3`, expect: '< 0.5' });
    await run({ query: `select max(ratio) from ${TABLE}`, expect: '>= 0.9' });
    const e = await failure(run({ query: `select max(ratio) from ${TABLE}`, expect: '< 0.5' }));
    expect(e.message).toBe('query returned 0.9, expected < 0.5');
  });

  it('a comparison against NULL (no rows to aggregate) fails instead of passing', async () => {
    const e = await failure(run({ query: `select max(ratio) from ${TABLE} where id > 100`, expect: '< 0.5' }));
    expect(e.message).toBe('query returned null, expected < 0.5');
  });

  it('rows checks the row count, as a number or a comparison', async () => {
    await run({ query: `select * from ${TABLE}`, rows: 3 });
    await run({ query: `select * from ${TABLE} where id > 1`, rows: '> 1' });
    await run({ query: `select * from ${TABLE} where id > 100`, rows: 0 });
    const e = await failure(run({ query: `select * from ${TABLE}`, rows: '> 5' }));
    expect(e.message).toBe('query returned 3 row(s), expected > 5');
    const exact = await failure(run({ query: `select * from ${TABLE}`, rows: 2 }));
    expect(exact.message).toBe('query returned 3 row(s), expected = 2');
  });

  it('truthy passes on true, non-zero and non-empty, and fails on false, 0, null and no rows', async () => {
    await run({ query: `select exists(select 1 from ${TABLE} where id = 1)`, truthy: true });
    await run({ query: 'select 5', truthy: true });
    await run({ query: "select 'yes'", truthy: true });
    expect((await failure(run({ query: `select exists(select 1 from ${TABLE} where id = 99)`, truthy: true }))).message).toBe('query returned false, expected a truthy value');
    expect((await failure(run({ query: 'select 0', truthy: true }))).message).toBe('query returned 0, expected a truthy value');
    expect((await failure(run({ query: 'select null', truthy: true }))).message).toBe('query returned null, expected a truthy value');
    expect((await failure(run({ query: `select id from ${TABLE} where id = 99`, truthy: true }))).message).toBe('query returned undefined, expected a truthy value');
  });

  it('a query with an SQL error fails saying what PostgreSQL said', async () => {
    const e = await failure(run({ query: 'select * from no_such_table_rb', rows: 0 }));
    expect(e.message).toBe('query failed: relation "no_such_table_rb" does not exist');
  });
});

describe('postgres step: params are parameters, not SQL', () => {
  it('a value with a quote matches the row literally', async () => {
    await run({ query: `select count(*) from ${TABLE} where name = $1`, params: ["O'Brien"], expect: 1 });
  });

  it('an injection attempt in a param is just a value that matches nothing, and the table survives', async () => {
    await run({ query: `select count(*) from ${TABLE} where name = $1`, params: [`x'; drop table ${TABLE}; --`], expect: 0 });
    expect((await client.query(`select count(*)::int as n from ${TABLE}`)).rows[0].n).toBe(3);
  });

  it('several params of different types', async () => {
    await run({ query: `select name from ${TABLE} where id = $1 and ratio < $2`, params: [2, 0.5], expect: 'beta' });
  });
});

describe('postgres step: exec runs in one transaction', () => {
  it('commits all statements when they all succeed', async () => {
    const r = await run({ exec: `insert into ${TABLE} values (10, 'ten', 1); update ${TABLE} set name = 'ALPHA' where id = 1` });
    expect(r.detail).toBe('committed');
    expect((await client.query(`select name from ${TABLE} where id in (1, 10) order by id`)).rows.map((r) => r.name)).toEqual(['ALPHA', 'ten']);
  });

  it('a failing statement after an insert leaves the table exactly as it was', async () => {
    const before = await rowsNow();
    const e = await failure(run({ exec: `insert into ${TABLE} values (20, 'twenty', 0.5); delete from ${TABLE} where id = 1; insert into ${TABLE} values (2, 'duplicate', 0)` }));
    expect(e.message).toMatch(/^SQL failed, transaction rolled back: duplicate key value violates unique constraint/);
    expect(e.message).not.toContain('\n');
    expect(await rowsNow()).toBe(before);
  });

  it('a syntax error in the last statement rolls back the earlier ones', async () => {
    const before = await rowsNow();
    const e = await failure(run({ exec: `insert into ${TABLE} values (30, 'thirty', 0.3); selec broken` }));
    expect(e.message).toMatch(/^SQL failed, transaction rolled back: syntax error at or near "selec"/);
    expect(await rowsNow()).toBe(before);
  });

  it('a statement cancelled by statement_timeout is reported as such, not as a connection failure', async () => {
    // Documents expected behaviour: the server said "canceling statement due to statement timeout";
    // "cannot connect … timed out" would send the operator to check the network.
    const before = await rowsNow();
    const e = await failure(run({ exec: `set local statement_timeout = '100ms'; insert into ${TABLE} values (40, 'forty', 0.4); select pg_sleep(2)` }));
    expect(e.message).toBe('SQL failed, transaction rolled back: canceling statement due to statement timeout');
    expect(await rowsNow()).toBe(before);
  });

  it('exec is an action, query and ready are checks', () => {
    const kind = postgresStep.kind as (p: PostgresParams) => string;
    expect(kind({ url, exec: 'select 1' })).toBe('action');
    expect(kind({ url, query: 'select 1' })).toBe('check');
    expect(kind({ url, ready: true })).toBe('check');
  });
});

describe('postgres step: ready', () => {
  it('passes on the running server', async () => {
    expect((await run({ ready: true })).detail).toBe('accepting connections');
  });
});

describe('postgres step: connection errors are one line, name host:port/db, and never show the password', () => {
  const oneLineWithoutPassword = (e: StepFailedError, secret: string) => {
    expect(e.message).not.toContain('\n');
    expect(JSON.stringify({ m: e.message, c: e.command, t: e.outputTail })).not.toContain(secret);
  };

  it('wrong password', async () => {
    const wrong = 'wrong-pw-Zq81x';
    const e = await failure(run({ url: `postgres://postgres:${wrong}@127.0.0.1:${port}/runbook_test`, ready: true }));
    expect(e.message).toBe(`cannot connect to PostgreSQL at 127.0.0.1:${port}/runbook_test: password authentication failed`);
    oneLineWithoutPassword(e, wrong);
    expect(e.command).toContain('postgres://postgres:***@');
  });

  it('a password containing an unencoded "@" is masked whole', async () => {
    // Documents expected behaviour: the URL parser takes the LAST "@" as the end of the password,
    // so the mask must too (today the command shows "postgres://postgres:***@ng-Secret9@…").
    const e = await failure(run({ url: `postgres://postgres:wr@ng-Secret9@127.0.0.1:${port}/runbook_test`, ready: true }));
    expect(e.message).toBe(`cannot connect to PostgreSQL at 127.0.0.1:${port}/runbook_test: password authentication failed`);
    oneLineWithoutPassword(e, 'ng-Secret9');
  });

  it('a database that does not exist', async () => {
    const e = await failure(run({ url: url.replace(/\/runbook_test$/, '/no_such_db_rb'), query: 'select 1', expect: 1 }));
    expect(e.message).toBe(`cannot connect to PostgreSQL at 127.0.0.1:${port}/no_such_db_rb: database does not exist`);
    oneLineWithoutPassword(e, password);
  });

  it('a URL that cannot be parsed, with the password masked', async () => {
    const e = await failure(run({ url: `postgres://postgres:${password}@127.0.0.1:notaport/runbook_test`, ready: true }));
    expect(e.message).toBe(`invalid PostgreSQL URL "postgres://postgres:***@127.0.0.1:notaport/runbook_test": expected postgres://user:password@host:port/database`);
    oneLineWithoutPassword(e, password);
  });

  it('a URL that is not a PostgreSQL URL', async () => {
    const e = await failure(run({ url: `mysql://root:${password}@127.0.0.1:3306/app`, ready: true }));
    expect(e.message).toMatch(/^invalid PostgreSQL URL/);
    oneLineWithoutPassword(e, password);
  });

  it('nothing listening on the port (a closed port)', async () => {
    const closed = await freePort();
    const e = await failure(run({ url: `postgres://postgres:${password}@127.0.0.1:${closed}/runbook_test`, ready: true }));
    expect(e.message).toBe(`cannot connect to PostgreSQL at 127.0.0.1:${closed}/runbook_test: connection refused (is the server running?)`);
    oneLineWithoutPassword(e, password);
  });

  it('a server that was running and is stopped', async () => {
    const own = await startCluster();
    try {
      own.createDatabase('appdb');
      const ownUrl = own.url('appdb');
      await run({ url: ownUrl, ready: true });
      own.stop();
      const e = await failure(run({ url: ownUrl, ready: true }));
      expect(e.message).toBe(`cannot connect to PostgreSQL at 127.0.0.1:${own.port}/appdb: connection refused (is the server running?)`);
      oneLineWithoutPassword(e, own.password);
    } finally {
      own.stop();
    }
  });

  it('a server that accepts the connection but never answers times out after connectTimeout', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => void sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as { port: number }).port;
    try {
      const started = Date.now();
      const e = await failure(run({ url: `postgres://postgres:${password}@127.0.0.1:${silentPort}/runbook_test`, ready: true, connectTimeout: '300ms' }));
      expect(Date.now() - started).toBeLessThan(5000);
      expect(e.message).toBe(`cannot connect to PostgreSQL at 127.0.0.1:${silentPort}/runbook_test: timed out`);
      oneLineWithoutPassword(e, password);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('describe shows host:port/db and never the password', () => {
    const text = postgresStep.describe(postgresStep.normalize!({ url, query: 'select 1', expect: 1 }));
    expect(text).toBe(`postgres 127.0.0.1:${port}/runbook_test: select 1 → = 1`);
    expect(text).not.toContain(password);
  });
});

describe('postgres step: abort', () => {
  it('a long query stopped by the step timeout stops promptly and says it timed out', async () => {
    // Documents expected behaviour: like run, http and wait, the failure is the abort reason with timedOut set,
    // not the side effect of closing the connection ("Connection terminated").
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('timed out after 300ms')), 300);
    const started = Date.now();
    const e = await failure(run({ query: 'select pg_sleep(8)', rows: 1 }, controller.signal));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(e.message).not.toContain(password);
    expect(e.message).toBe('timed out after 300ms');
    expect(e.timedOut).toBe(true);
  });
});
