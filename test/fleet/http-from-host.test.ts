/**
 * `http` in a change on hosts: sent from this machine by default, or with `from: host` by the
 * host's own curl — the URL, headers and body on curl's stdin, never on the host's command line.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, workspace, type Fleet } from './fleet-fixture.js';

let fleet: Fleet;
let server: Server;
let port = 0;
const seen: { ua: string; token: string }[] = [];

beforeAll(async () => {
  fleet = await startFleet('hf', 1, 217);
  server = createServer((req, res) => {
    seen.push({ ua: String(req.headers['user-agent'] ?? ''), token: String(req.headers['x-token'] ?? '') });
    res.end(req.headers['x-token'] === 'tok-3141' ? 'ok' : 'denied');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(() => {
  server?.close();
  fleet?.stop();
});

describe('http steps on hosts', () => {
  it('from: host is sent by the host’s curl (a secret header reaches the server; no output or journal shows it); without it, from this machine', async () => {
    const ws = workspace(
      fleet,
      `runbook: 1
name: http-from-host
title: http from the host
hosts:
  web: [hf-1]
secrets: [TOKEN]
changes:
  - id: c
    title: c
    risk: 0
    on: web
    apply:
      - file: { path: /srv/flag, content: "x" }
    verify:
      - http: { url: "http://127.0.0.1:${port}/health", from: host, headers: { x-token: "{{ env.TOKEN }}" }, contains: ok }
      - http: { url: "http://127.0.0.1:${port}/health", headers: { x-token: "{{ env.TOKEN }}" }, contains: ok }
`,
    );
    // In the background: this process serves the requests meanwhile.
    const r = await ws.start(['apply', ws.runbook, '--yes'], { env: { TOKEN: 'tok-3141' }, json: false }).done;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(seen.map((s) => s.ua.split('/')[0])).toEqual(['curl', 'node']);
    expect(seen.every((s) => s.token === 'tok-3141')).toBe(true);
    expect(r.stdout + r.stderr + ws.journal()).not.toContain('tok-3141');
    expect(r.stdout).toContain('Programs the steps need: curl (c)');
  });
});
