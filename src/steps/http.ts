import { redactUrl } from '../support/redact-url.js';
import type { StepContext, StepType } from './contract.js';
import { StepFailedError } from './contract.js';
import { truncate } from './kit/match.js';
import { asMap, httpUrlProblem, regexProblem } from './kit/param-checks.js';

export interface HttpParams {
  url: string;
  method: string;
  headers?: Record<string, string>;
  body?: string;
  status: number[];
  contains?: string;
  matches?: string;
  /** Dotted path in the JSON body → expected value. */
  json?: Record<string, unknown>;
  /** Where the request is sent from, for a change on hosts: this machine (default) or the host itself (with its curl). */
  from?: 'control' | 'host';
}

/** A value in curl's config syntax: double-quoted, backslash escapes. */
const curlString = (value: string) => `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`;

const STATUS_MARK = '\n__runbook_http_status__';

/**
 * The request sent by the host's curl. Everything — the URL (it may hold a password), headers,
 * body — goes in a curl config on stdin (`-K -`), never on the host's command line.
 */
async function fromHost(p: HttpParams, ctx: StepContext, shown: string): Promise<{ status: number; text: string }> {
  const config = [
    `url = ${curlString(p.url)}`,
    `request = ${curlString(p.method)}`,
    ...Object.entries(p.headers ?? {}).map(([k, v]) => `header = ${curlString(`${k}: ${v}`)}`),
    ...(p.body !== undefined ? [`data-binary = ${curlString(p.body)}`] : []),
    'silent',
    'show-error',
    `max-time = ${Math.max(1, Math.ceil(ctx.timeoutMs / 1000))}`,
    `write-out = ${curlString(`${STATUS_MARK}%{http_code}`)}`,
  ].join('\n');
  const r = await ctx.target.exec({ argv: ['curl', '-K', '-'], cwd: '/', env: ctx.env, signal: ctx.signal, input: `${config}\n`, capture: true });
  if (r.exitCode !== 0) throw new StepFailedError(redactUrl(`request from ${ctx.target.name} failed: ${r.stderr.trim() || `curl exit ${r.exitCode}`}`), { command: `${shown} (curl on ${ctx.target.name})`, exitCode: r.exitCode });
  const at = r.stdout.lastIndexOf(STATUS_MARK);
  return { status: Number(r.stdout.slice(at + STATUS_MARK.length)), text: at >= 0 ? r.stdout.slice(0, at) : r.stdout };
}

export const httpStep: StepType<HttpParams> = {
  type: 'http',
  summary: 'Send an HTTP request and check the status, the body text or values in a JSON body.',
  schema: {
    description: 'A URL (GET, expect 200) or a map with the request and what the response must be.',
    oneOf: [
      { type: 'string', minLength: 1 },
      {
        type: 'object',
        additionalProperties: false,
        required: ['url'],
        properties: {
          url: { type: 'string', minLength: 1, description: 'The URL to request.' },
          method: { type: 'string', enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], description: 'HTTP method (default GET).' },
          headers: { type: 'object', additionalProperties: { type: 'string' }, description: 'Request headers.' },
          body: { type: 'string', description: 'Request body.' },
          status: {
            description: 'Expected status code(s) (default 200).',
            oneOf: [{ type: 'integer', minimum: 100, maximum: 599 }, { type: 'array', minItems: 1, items: { type: 'integer', minimum: 100, maximum: 599 } }],
          },
          contains: { type: 'string', description: 'The response body must contain this text.' },
          matches: { type: 'string', description: 'The response body must match this regular expression.' },
          json: { type: 'object', description: 'Dotted paths into the JSON body and the values they must have, e.g. `pool.max: 10`.' },
          from: { enum: ['control', 'host'], description: 'In a change on hosts: send the request from this machine (control, the default) or from the host itself, with its curl (host).' },
        },
      },
    ],
  },
  templateFields: { '': 'http-url', url: 'http-url' },
  // GET, HEAD and OPTIONS only read: such a step needs nothing undone.
  kind: (p) => (['GET', 'HEAD', 'OPTIONS'].includes(p.method) ? 'check' : 'action'),
  check(raw) {
    const r = asMap(raw);
    return r ? [...httpUrlProblem(['url'], r.url), ...regexProblem(['matches'], r.matches, 'm')] : httpUrlProblem([], raw);
  },
  normalize(raw) {
    if (typeof raw === 'string') return { url: raw, method: 'GET', status: [200] };
    const r = raw as Omit<HttpParams, 'status' | 'method'> & { status?: number | number[]; method?: string };
    const broken = Object.entries(r.headers ?? {}).find(([, v]) => /[\r\n]/.test(v));
    if (broken) throw new Error(`header ${broken[0]} contains a line break (a header value is one line)`);
    return { ...r, method: r.method ?? 'GET', status: r.status === undefined ? [200] : Array.isArray(r.status) ? r.status : [r.status] };
  },
  describe(p) {
    const checks = [p.status.join('|'), p.contains !== undefined ? `contains ${JSON.stringify(p.contains)}` : '', p.json ? `json ${Object.keys(p.json).join(', ')}` : '']
      .filter(Boolean)
      .join(', ');
    return `${p.method} ${redactUrl(p.url)} → ${checks}`;
  },
  commands: (p) => (p.from === 'host' ? ['curl'] : []),
  defaultTimeoutMs: 10_000,
  async run(p, ctx) {
    const shown = `${p.method} ${redactUrl(p.url)}`;
    let response: { status: number; text(): Promise<string> };
    try {
      if (p.from === 'host' && ctx.target.remote) {
        const got = await fromHost(p, ctx, shown);
        response = { status: got.status, text: async () => got.text };
      } else response = await fetch(p.url, { method: p.method, headers: p.headers, body: p.body, signal: ctx.signal, redirect: 'manual' });
    } catch (error) {
      if (error instanceof StepFailedError) throw error;
      if (ctx.signal.aborted) {
        const reason = ctx.signal.reason instanceof Error ? ctx.signal.reason.message : 'aborted';
        throw new StepFailedError(reason, { command: shown, timedOut: /timed out/.test(reason) });
      }
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new StepFailedError(redactUrl(`request failed: ${cause?.code ?? cause?.message ?? (error as Error).message}`), { command: shown });
    }
    const text = await response.text();
    const tail = truncate(text, 500);
    if (!p.status.includes(response.status)) {
      throw new StepFailedError(`expected status ${p.status.join(' or ')}, got ${response.status}`, { command: shown, outputTail: tail });
    }
    if (p.contains !== undefined && !text.includes(p.contains)) {
      throw new StepFailedError(`response body does not contain ${JSON.stringify(p.contains)}`, { command: shown, outputTail: tail });
    }
    if (p.matches !== undefined && !new RegExp(p.matches, 'm').test(text)) {
      throw new StepFailedError(`response body does not match /${p.matches}/`, { command: shown, outputTail: tail });
    }
    if (p.json) {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new StepFailedError('response body is not JSON', { command: shown, outputTail: tail });
      }
      for (const [path, expected] of Object.entries(p.json)) {
        const actual = path.split('.').reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), body);
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          throw new StepFailedError(`JSON ${path} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`, { command: shown, outputTail: tail });
        }
      }
    }
    return { detail: `${response.status}` };
  },
};
