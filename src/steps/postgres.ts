import { parseDuration } from '../model/units.js';
import { redactUrl } from '../support/redact-url.js';
import type { StepContext, StepType } from './contract.js';
import { StepFailedError } from './contract.js';
import { compare, describeComparison, parseComparison } from './kit/compare.js';
import { asMap, durationProblem } from './kit/param-checks.js';
import { describePgError, parsePgUrl } from './kit/pg-errors.js';

export interface PostgresParams {
  url: string;
  /** A query whose first row's first column (or row count) is checked. */
  query?: string;
  params?: unknown[];
  /** Expected first value: a plain value, or a comparison such as "< 0.5". */
  expect?: unknown;
  /** Expected number of rows: a count or a comparison. */
  rows?: number | string;
  /** The first value must be truthy (true, non-zero, non-empty). */
  truthy?: boolean;
  /** SQL statements run in one transaction; any failure rolls them all back. */
  exec?: string;
  /** Only check that the server accepts connections (portable pg_isready). */
  ready?: boolean;
  connectTimeout?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 3000;

/** The step was stopped (timeout or interrupt): say so, as the other step types do. */
function aborted(signal: AbortSignal, command: string): StepFailedError {
  const reason = signal.reason instanceof Error ? signal.reason.message : 'aborted';
  return new StepFailedError(reason, { command, timedOut: /timed out/.test(reason) });
}

function what(p: PostgresParams): string {
  if (p.ready) return 'ready';
  if (p.exec !== undefined) return `exec ${p.exec.replace(/\s+/g, ' ').slice(0, 60)}`;
  const checks = [p.expect !== undefined ? `→ ${describeComparison(parseComparison(p.expect))}` : '', p.rows !== undefined ? `rows ${describeComparison(parseComparison(p.rows))}` : '', p.truthy ? '→ truthy' : ''].filter(Boolean).join(', ');
  return `${(p.query ?? '').replace(/\s+/g, ' ').slice(0, 60)}${checks ? ` ${checks}` : ''}`;
}

export const postgresStep: StepType<PostgresParams> = {
  type: 'postgres',
  summary: 'Query PostgreSQL and check the result, run SQL in a transaction, or check the server is ready.',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    properties: {
      url: { type: 'string', minLength: 1, description: 'Connection URL, postgres://user:password@host:port/db (the password is never shown).' },
      query: { type: 'string', minLength: 1, description: 'A read query to check.' },
      params: { type: 'array', description: 'Query parameters ($1, $2, …): values are never spliced into SQL.' },
      expect: { description: 'Expected first column of the first row: a value, or a comparison such as "< 0.5", ">= 1".' },
      rows: { description: 'Expected row count: a number or a comparison such as "> 0".', oneOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^\\s*(<=|>=|==|!=|<|>)\\s*\\d+\\s*$' }] },
      truthy: { const: true, description: 'The first value must be truthy.' },
      exec: { type: 'string', minLength: 1, description: 'SQL run in one transaction (BEGIN … COMMIT; rolled back if any statement fails).' },
      ready: { const: true, description: 'Only check that the server accepts connections and answers SELECT 1.' },
      connectTimeout: { $ref: '#/$defs/duration', description: 'Connection timeout (default 3s, never longer than the step timeout).' },
    },
    oneOf: [{ required: ['query'] }, { required: ['exec'] }, { required: ['ready'] }],
  },
  templateFields: { url: 'pg-url', query: 'sql', exec: 'sql-script' },
  kind: (p) => (p.exec !== undefined ? 'action' : 'check'),
  check(raw) {
    const r = asMap(raw) ?? {};
    const url = typeof r.url === 'string' && !parsePgUrl(r.url).valid ? [{ path: ['url'], message: `must be a PostgreSQL URL, postgres://user:password@host:port/database — got ${JSON.stringify(redactUrl(r.url))}` }] : [];
    return [...url, ...durationProblem(['connectTimeout'], r.connectTimeout)];
  },
  normalize(raw) {
    const r = raw as PostgresParams & { connectTimeout?: string };
    return { ...r, connectTimeout: typeof r.connectTimeout === 'string' ? parseDuration(r.connectTimeout) : undefined };
  },
  describe(p) {
    const target = parsePgUrl(p.url);
    return `postgres ${target.host ?? '?'}:${target.port ?? '?'}/${target.database ?? '?'}: ${what(p)}`;
  },
  invertible: () => false,
  defaultTimeoutMs: 30_000,
  async run(p, ctx) {
    const target = parsePgUrl(p.url);
    const shown = `postgres ${redactUrl(p.url)}: ${what(p)}`;
    if (!target.valid) throw new StepFailedError(`invalid PostgreSQL URL ${JSON.stringify(redactUrl(p.url))}: expected postgres://user:password@host:port/database`, { command: shown });
    // On a host, the server is reached as the host sees it: through a port forwarded over its ssh connection.
    const via = ctx.target.remote ? await throughHost(p.url, ctx) : undefined;
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: via?.url ?? p.url, connectionTimeoutMillis: Math.min(p.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS, ctx.timeoutMs), application_name: 'runbook' });
    client.on('error', () => {});
    const onAbort = () => void client.end().catch(() => {});
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      try {
        await client.connect();
      } catch (error) {
        if (ctx.signal.aborted) throw aborted(ctx.signal, shown);
        throw new StepFailedError(describePgError(error, target), { command: shown });
      }
      if (p.ready) {
        await client.query('SELECT 1');
        return { detail: 'accepting connections' };
      }
      if (p.exec !== undefined) {
        try {
          await client.query('BEGIN');
          await client.query(p.exec);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          if (ctx.signal.aborted) throw aborted(ctx.signal, shown);
          throw new StepFailedError(`SQL failed, transaction rolled back: ${describePgError(error, target, 'query').replace(/^PostgreSQL at [^:]+:\d+\/\S+: /, '')}`, { command: shown });
        }
        return { detail: 'committed' };
      }
      let result;
      try {
        result = await client.query({ text: p.query!, values: p.params ?? [], rowMode: 'array' });
      } catch (error) {
        if (ctx.signal.aborted) throw aborted(ctx.signal, shown);
        throw new StepFailedError(`query failed: ${describePgError(error, target, 'query').replace(/^PostgreSQL at [^:]+:\d+\/\S+: /, '')}`, { command: shown });
      }
      const first = (result.rows[0] as unknown[] | undefined)?.[0];
      const count = result.rows.length;
      if (p.rows !== undefined && !compare(count, parseComparison(p.rows))) throw new StepFailedError(`query returned ${count} row(s), expected ${describeComparison(parseComparison(p.rows))}`, { command: shown });
      if (p.expect !== undefined && !compare(first, parseComparison(p.expect))) throw new StepFailedError(`query returned ${JSON.stringify(first)}, expected ${describeComparison(parseComparison(p.expect))}`, { command: shown });
      if (p.truthy && !(first === true || (typeof first === 'number' && first !== 0) || (typeof first === 'string' && first !== '' && first !== '0' && first !== 'f' && first !== 'false'))) {
        throw new StepFailedError(`query returned ${JSON.stringify(first)}, expected a truthy value`, { command: shown });
      }
      return { detail: `${count} row(s), first value ${JSON.stringify(first)}` };
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      await client.end().catch(() => {});
      await via?.close();
    }
  },
};

/**
 * The URL as this machine reaches the server the host would: `host:port` (default localhost:5432)
 * or a unix socket (`?host=/run/postgresql`), each through a local port forwarded over the
 * host's connection. The server needs no port open to anyone but the host itself.
 */
async function throughHost(url: string, ctx: StepContext): Promise<{ url: string; close(): Promise<void> }> {
  if (!ctx.target.forward) throw new StepFailedError(`${ctx.target.name}: this connection cannot forward a port to the host's PostgreSQL`);
  const u = new URL(url);
  const port = u.port || '5432';
  const socketDir = u.searchParams.get('host');
  let to: string;
  if (socketDir?.startsWith('/')) {
    to = `${socketDir.replace(/\/$/, '')}/.s.PGSQL.${port}`;
    u.searchParams.delete('host');
  } else to = `${u.hostname || 'localhost'}:${port}`;
  const forwarded = await ctx.target.forward(to);
  u.hostname = '127.0.0.1';
  u.port = String(forwarded.port);
  return { url: u.toString(), close: forwarded.close };
}
