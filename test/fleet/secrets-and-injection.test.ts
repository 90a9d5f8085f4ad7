/**
 * What a host and its operator can see: a secret used in a `run` step on a host never shows in
 * the host's `ps` while the step runs (nor this machine's), nor in any output, journal or
 * report; a host var holding shell syntax is data in a `run` command on the host, never code.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seed, startFleet, until, workspace, type Fleet } from './fleet-fixture.js';

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet('s', 2, 160);
  seed(fleet);
});
afterAll(() => fleet?.stop());

const SECRET = 'tok-7Hq2-very-secret-9ZxW';

const secretRunbook = `runbook: 1
name: secret-on-hosts
title: A token used on the hosts
hosts:
  app: [s-1, s-2]
rollout: { canary: 0, batch: 2 }
secrets: [API_TOKEN]
changes:
  - id: token
    title: Use the API token
    risk: 1
    on: app
    apply:
      - file: { path: /srv/token.conf, content: "token={{ env.API_TOKEN }}\\n", mode: "0600" }
      - name: use the token for a while
        run: "printf %s {{ env.API_TOKEN }} | sha256sum > /srv/token.sha; echo using {{ env.API_TOKEN }}; touch /srv/using; sleep 3"
    verify:
      - run: "echo checking {{ env.API_TOKEN }}; grep -q -- {{ env.API_TOKEN }} /srv/token.conf"
    rollback:
      - undo: apply
      - run: "rm -f /srv/token.sha /srv/using"
`;

describe('a secret used in a run step on hosts', () => {
  it('is never in the host`s ps while the step runs, nor in any output, journal or report', async () => {
    const ws = workspace(fleet, secretRunbook);
    const env = { API_TOKEN: SECRET };
    const junit = join(ws.dir, 'report.xml');
    const run = ws.start(['apply', ws.runbook, '--yes', '--verbose', '--junit', junit], { env, json: false });
    const seen: string[] = [];
    let sawStep = false;
    const look = () => {
      for (const name of fleet.names) {
        const ps = fleet.ssh(name, 'ps -eo args').stdout;
        seen.push(ps);
        if (ps.includes('sleep 3')) sawStep = true;
      }
      seen.push(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }));
    };
    await until(() => {
      look();
      return sawStep;
    }, 'the step running on a host');
    for (let i = 0; i < 10; i++) look();
    const r = await run.done;
    expect(r.code).toBe(0);

    // It did reach each host, through the channel.
    const sha = createHash('sha256').update(SECRET).digest('hex');
    for (const name of fleet.names) expect(fleet.on(name, 'cat /srv/token.sha')).toContain(sha);
    expect(r.stdout).toContain('using ***');

    const rolledBack = ws.cli(['rollback', ws.runbook, '--yes', '--verbose'], { env });
    expect(rolledBack.code).toBe(0);
    for (const name of fleet.names) expect(fleet.ssh(name, 'test -e /srv/token.conf').status).toBe(1);

    // The same again as NDJSON.
    const json = ws.cli(['apply', ws.runbook, '--yes', '--json'], { env });
    expect(json.code).toBe(0);
    const jsonRollback = ws.cli(['rollback', ws.runbook, '--yes', '--json'], { env });
    expect(jsonRollback.code).toBe(0);

    const everything = [...seen, r.stdout, r.stderr, rolledBack.stdout, rolledBack.stderr, json.stdout, json.stderr, jsonRollback.stdout, jsonRollback.stderr, ws.journal(), readFileSync(junit, 'utf8')].join('\n');
    expect(everything).not.toContain(SECRET);
  });
});

const injectionRunbook = `runbook: 1
name: host-var-injection
title: Host vars are data
hosts:
  app: [s-1, s-2]
rollout: { canary: 0, batch: 2 }
changes:
  - id: note
    title: Write each host's note
    risk: 1
    on: app
    apply:
      - run: "echo {{ host.vars.x }} > /srv/x.txt; echo \\"{{ host.vars.x }}\\" >> /srv/x.txt; echo $(echo {{ host.vars.x }}) >> /srv/x.txt"
    rollback:
      - run: "rm -f /srv/x.txt"
`;

describe('a host var holding shell syntax', () => {
  it('is written as text by a run command on the host and never executes there', () => {
    const ws = workspace(fleet, injectionRunbook);
    const inventory = join(ws.dir, 'inventory.yaml');
    const values = { 's-1': '$(touch /srv/pwned-1)', 's-2': '; touch /srv/pwned-2 ; `touch /srv/pwned-3` \' " && touch /srv/pwned-4' };
    writeFileSync(inventory, `app:\n  s-1: { x: ${JSON.stringify(values['s-1'])} }\n  s-2: { x: ${JSON.stringify(values['s-2'])} }\n`);

    const r = ws.cli(['apply', ws.runbook, '--yes', '--inventory', inventory]);
    expect(r.code).toBe(0);
    for (const name of fleet.names) {
      expect(fleet.on(name, 'ls /srv')).not.toContain('pwned');
      const value = values[name as keyof typeof values];
      expect(fleet.on(name, 'cat /srv/x.txt')).toBe(`${value}\n${value}\n${value}\n`);
    }
    expect(ws.cli(['rollback', ws.runbook, '--yes', '--inventory', inventory]).code).toBe(0);
  });
});
