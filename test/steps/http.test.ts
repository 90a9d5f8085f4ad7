import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpStep, type HttpParams } from '../../src/steps/http.js';
import { freePort } from '../../tools/pg-cluster.js';
import { failure, stepCtx } from '../support/step-context.js';

// A real HTTP server on 127.0.0.1 in this test process. The step's run is async, so the
// server answers while the step awaits.
let server: Server;
let base: string;
const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      switch (req.url) {
        case '/health':
          res.writeHead(200, { 'content-type': 'text/plain' }).end('status: ok\nversion: 2.4.1\n');
          return;
        case '/down':
          res.writeHead(503).end('maintenance in progress');
          return;
        case '/config':
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ pool: { max: 10, name: 'main' }, features: ['a', 'b'], enabled: true, nothing: null }));
          return;
        case '/not-json':
          res.writeHead(200).end('<html>oops</html>');
          return;
        case '/moved':
          res.writeHead(302, { location: '/health' }).end();
          return;
        case '/echo':
          res.writeHead(201).end(`${req.method} ${req.headers['x-token'] ?? ''} ${body}`);
          return;
        case '/slow':
          setTimeout(() => res.writeHead(200).end('late'), 5000).unref();
          return;
        default:
          res.writeHead(404).end('not found');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const params = (raw: unknown): HttpParams => httpStep.normalize!(raw);
const run = (raw: unknown, signal?: AbortSignal) => httpStep.run(params(raw), stepCtx(process.cwd(), signal ? { signal } : {}));

describe('http step: status', () => {
  it('a URL alone means GET and expect 200', async () => {
    expect((await run(`${base}/health`)).detail).toBe('200');
  });

  it('a status other than the expected one fails, naming both and showing the body', async () => {
    const e = await failure(run(`${base}/down`));
    expect(e.message).toBe('expected status 200, got 503');
    expect(e.command).toBe(`GET ${base}/down`);
    expect(e.outputTail).toBe('maintenance in progress');
  });

  it('a list of statuses accepts any of them', async () => {
    expect((await run({ url: `${base}/down`, status: [200, 503] })).detail).toBe('503');
    expect((await run({ url: `${base}/nope`, status: 404 })).detail).toBe('404');
    const e = await failure(run({ url: `${base}/nope`, status: [200, 204] }));
    expect(e.message).toBe('expected status 200 or 204, got 404');
  });

  it('does not follow redirects: a 302 is seen as a 302', async () => {
    expect((await run({ url: `${base}/moved`, status: 302 })).detail).toBe('302');
  });

  it('sends the method, headers and body', async () => {
    const r = await run({ url: `${base}/echo`, method: 'POST', headers: { 'x-token': 'abc' }, body: 'payload', status: 201, contains: 'POST abc payload' });
    expect(r.detail).toBe('201');
    const last = seen.filter((s) => s.url === '/echo').at(-1)!;
    expect(last.method).toBe('POST');
    expect(last.body).toBe('payload');
  });
});

describe('http step: body', () => {
  it('contains passes when the body has the text and fails otherwise', async () => {
    await run({ url: `${base}/health`, contains: 'status: ok' });
    const e = await failure(run({ url: `${base}/health`, contains: 'status: degraded' }));
    expect(e.message).toBe('response body does not contain "status: degraded"');
    expect(e.outputTail).toContain('status: ok');
  });

  it('matches applies a multi-line regular expression', async () => {
    await run({ url: `${base}/health`, matches: '^version: 2\\.\\d+\\.\\d+$' });
    const e = await failure(run({ url: `${base}/health`, matches: '^version: 3\\.' }));
    expect(e.message).toBe('response body does not match /^version: 3\\./');
  });

  it('json checks values at dotted paths, including array indexes, booleans and null', async () => {
    await run({ url: `${base}/config`, json: { 'pool.max': 10, 'pool.name': 'main', 'features.1': 'b', enabled: true, nothing: null } });
  });

  it('json names the path, the actual and the expected value when they differ', async () => {
    const e = await failure(run({ url: `${base}/config`, json: { 'pool.max': 20 } }));
    expect(e.message).toBe('JSON pool.max is 10, expected 20');
    const typed = await failure(run({ url: `${base}/config`, json: { 'pool.max': '10' } }));
    expect(typed.message).toBe('JSON pool.max is 10, expected "10"');
    const missing = await failure(run({ url: `${base}/config`, json: { 'pool.min': 1 } }));
    expect(missing.message).toBe('JSON pool.min is undefined, expected 1');
  });

  it('json on a body that is not JSON says so', async () => {
    const e = await failure(run({ url: `${base}/not-json`, json: { a: 1 } }));
    expect(e.message).toBe('response body is not JSON');
    expect(e.outputTail).toBe('<html>oops</html>');
  });
});

describe('http step: cannot connect', () => {
  it('a closed port gives a clear "connection refused" message naming the request', async () => {
    const port = await freePort();
    const e = await failure(run(`http://127.0.0.1:${port}/health`));
    expect(e.message).toBe('request failed: ECONNREFUSED');
    expect(e.command).toBe(`GET http://127.0.0.1:${port}/health`);
    expect(e.message).not.toContain('\n');
  });

  it('an abort (timeout) stops a slow request and says so', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('timed out after 200ms')), 200);
    const started = Date.now();
    const e = await failure(run(`${base}/slow`, controller.signal));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(e.message).toBe('timed out after 200ms');
    expect(e.timedOut).toBe(true);
  });

  it('a password in the URL never appears in the command or the message', async () => {
    // Documents expected behaviour: the step redacts URL passwords (describe, command), so its message must too.
    const e = await failure(run({ url: `http://admin:s3cret-pw@127.0.0.1:${(server.address() as AddressInfo).port}/nope`, status: 200 }));
    expect(e.command).toBe(`GET http://admin:***@127.0.0.1:${(server.address() as AddressInfo).port}/nope`);
    expect(e.message).not.toContain('s3cret-pw');
    expect(httpStep.describe(params(`http://admin:s3cret-pw@127.0.0.1:1/x`))).not.toContain('s3cret-pw');
  });
});

describe('http step: describe', () => {
  it('shows method, URL and what is checked', () => {
    expect(httpStep.describe(params({ url: 'http://127.0.0.1:9191/health', status: [200, 204], contains: 'ok', json: { 'a.b': 1 } }))).toBe('GET http://127.0.0.1:9191/health → 200|204, contains "ok", json a.b');
  });
});
