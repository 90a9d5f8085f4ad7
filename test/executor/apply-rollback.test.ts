import { createServer, type Server } from 'node:http';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend, databaseRunIds } from '../support/state-backend.js';
import { fourChanges } from './fixture.js';

let server: Server;
let port = 0;
beforeAll(async () => {
  server = createServer((req, res) => res.end(req.url === '/health' ? 'ok' : 'nope'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => server.close());

describe(`apply with the ${backend} state backend: verify after each change, roll back on failure`, () => {
  it('applies all four changes, verifying each against files and a real HTTP server', async () => {
    const sb = fourChanges({ httpPort: port });
    const r = await sb.cliAsync(['apply', sb.runbook]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('all changes applied and verified');
    expect(Object.values(sb.snapshot()).every((t) => t.includes('=new'))).toBe(true);
  });

  it.each([1, 2, 3, 4])('rolls back change %i and every earlier one when its verify fails: files byte-identical, exit 1', async (k) => {
    const sb = fourChanges({ httpPort: port });
    const before = sb.snapshot();
    const r = await sb.cliAsync(['apply', sb.runbook, '--var', `fail_at=${k}`]);
    expect(r.code).toBe(1);
    expect(sb.snapshot()).toEqual(before);
    expect(r.stdout).toContain(`failed:       change-${k}, verify step "fault injection point ${k}"`);
    expect(r.stdout).toContain(`command: test ${k} != ${k}`);
    expect(r.stdout).toMatch(/exit:\s+1/);
    expect(r.stdout).toContain('still applied: nothing');
    const rolledBack = r.stdout.match(/rolled back:\s+(.*)/)?.[1] ?? '';
    for (let i = 1; i <= k; i++) expect(rolledBack).toContain(`change-${i}`);
    // Undo runs in reverse order.
    const order = [...r.stdout.matchAll(/↩ (change-\d) rolled back/g)].map((m) => m[1]);
    expect(order).toEqual(Array.from({ length: k }, (_, i) => `change-${k - i}`));
  });

  it('with onFailure: stop, the failed change stays applied, status says so, rollback restores', () => {
    const sb = fourChanges({ onFailure: 'stop' });
    const before = sb.snapshot();
    const r = sb.cli(['apply', sb.runbook, '--var', 'fail_at=3']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/stopped as the policy says/);
    expect(sb.snapshot()['conf3.txt']).toContain('setting3=new');
    const status = sb.cli(['status', sb.runbook]);
    expect(status.stdout).toMatch(/applied: 3\. change-3 — failed/);
    expect(status.stdout).toMatch(/UNFINISHED/);
    const again = sb.cli(['apply', sb.runbook]);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/did not finish cleanly.*\n.*runbook rollback/);
    const rb = sb.cli(['rollback', sb.runbook]);
    expect(rb.code).toBe(0);
    expect(sb.snapshot()).toEqual(before);
    const second = sb.cli(['rollback', sb.runbook]);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/nothing to roll back/);
  });

  it('rollback after a successful apply restores every byte; a second rollback is a no-op', () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    expect(sb.cli(['apply', sb.runbook]).code).toBe(0);
    expect(sb.snapshot()).not.toEqual(before);
    const rb = sb.cli(['rollback', sb.runbook]);
    expect(rb.code).toBe(0);
    expect(sb.snapshot()).toEqual(before);
    expect(sb.cli(['rollback', sb.runbook]).stdout).toMatch(/nothing to roll back/);
    expect(sb.cli(['history', sb.runbook]).stdout).toMatch(/rolled-back/);
  });

  it('rollback --to undoes only the changes after (and including) the one named', () => {
    const sb = fourChanges();
    expect(sb.cli(['apply', sb.runbook]).code).toBe(0);
    expect(sb.cli(['rollback', sb.runbook, '--to', 'change-3']).code).toBe(0);
    const now = sb.snapshot();
    expect(now['conf1.txt']).toContain('=new');
    expect(now['conf2.txt']).toContain('=new');
    expect(now['conf3.txt']).toContain('=old');
    expect(now['conf4.txt']).toContain('=old');
  });

  it('rollback runs what was recorded at apply time, even after the runbook is edited', () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    expect(sb.cli(['apply', sb.runbook]).code).toBe(0);
    // An edit after apply: change 1 now claims a destructive rollback.
    const text = readFileSync(sb.runbook, 'utf8').replace('    verify:\n', `    rollback:\n      - run: "rm -f ${sb.dir}/conf1.txt ${sb.dir}/conf2.txt"\n    verify:\n`);
    writeFileSync(sb.runbook, text);
    const rb = sb.cli(['rollback', sb.runbook]);
    expect(rb.code).toBe(0);
    expect(rb.stderr).toMatch(/edited .* since it was applied/);
    expect(sb.snapshot()).toEqual(before);
  });

  it('a step past its timeout is killed and counts as failed', () => {
    const sb = fourChanges({ extraApply: { 2: '      - run: "sleep 30"\n        timeout: 500ms\n' } });
    const text = readFileSync(sb.runbook, 'utf8').replace('  - id: change-2\n', '  - id: change-2\n    rollback: [ { run: "true" } ]\n');
    writeFileSync(sb.runbook, text);
    const started = Date.now();
    const r = sb.cli(['apply', sb.runbook]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/timed out after 500ms/);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('preflight failures are all reported, each with its command, exit code and output, and nothing changes', () => {
    const sb = fourChanges();
    const failing = `{ name: Schema is current, run: "echo checking schema; echo 'relation users does not exist' >&2; exit 3" }`;
    const text = readFileSync(sb.runbook, 'utf8').replace('changes:\n', `preflight:\n  - which: [definitely-not-installed-tool]\n  - disk: { path: "/", minFree: 900TB }\n  - run: "true"\n  - ${failing}\nchanges:\n`);
    writeFileSync(sb.runbook, text);
    const before = sb.snapshot();
    const r = sb.cli(['apply', sb.runbook]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/preflight: 3 checks failed — nothing was changed/);
    expect(r.stdout).toMatch(/not found on PATH: definitely-not-installed-tool/);
    expect(r.stdout).toMatch(/need 900 TB/);
    const report = r.stdout.slice(r.stdout.indexOf('✖ preflight failed'));
    expect(report).toMatch(/preflight check "Schema is current"\n\s+error: +command exited with code 3\n\s+command: echo checking schema; .*\n\s+exit: +3\n\s+output \(last lines\):\n\s+│ checking schema\n\s+│ relation users does not exist/);
    expect(sb.snapshot()).toEqual(before);
  });

  it('--dry-run says what would run and changes nothing', () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    const r = sb.cli(['apply', sb.runbook, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/will run\s+apply\s+replace in .*conf1\.txt — replace 1 occurrence/);
    expect(r.stdout).toMatch(/will check\s+verify/);
    expect(sb.snapshot()).toEqual(before);
    expect(existsSync(join(sb.state, 'runs')) ? readdirSync(join(sb.state, 'runs')) : []).toEqual([]);
    if (backend === 'postgres') expect(databaseRunIds(sb.dir)).toEqual([]);
    expect(sb.cli(['history', sb.runbook]).stdout).toMatch(/no runs yet/);
  });

  it('a change at or above confirmFrom needs --yes without a terminal; above maxRisk needs --accept-risk', () => {
    const sb = fourChanges();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('risk: 2', 'risk: 4'));
    const r = sb.cli(['apply', sb.runbook]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/change-2 \(risk 4\/10\) needs confirmation .* pass --yes/);
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('risk: 4', 'risk: 8'));
    const over = sb.cli(['apply', sb.runbook, '--yes']);
    expect(over.code).toBe(2);
    expect(over.stderr).toMatch(/above policy maxRisk 5.*--accept-risk/);
    expect(sb.cli(['apply', sb.runbook, '--yes', '--accept-risk']).code).toBe(0);
  });
});
