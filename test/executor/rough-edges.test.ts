import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCli, waitFor } from '../support/cli.js';
import { backend, printedState } from '../support/state-backend.js';
import { fourChanges } from './fixture.js';

describe(`rough edges an operator trial found, with the ${backend} state backend`, () => {
  it('status of an unfinished run exits 3 and prints the one command that continues it; 0 once it is settled', () => {
    const sb = fourChanges({ onFailure: 'stop' });
    expect(sb.cli(['apply', sb.runbook, '--var', 'fail_at=2']).code).toBe(1);
    const status = sb.cli(['status', sb.runbook]);
    expect(status.code).toBe(3);
    expect(status.stdout).toContain(`UNFINISHED: run `);
    expect(status.stdout).toContain(`— restore with: runbook rollback ${sb.runbook}${printedState(sb.runbook)}\n`);
    expect(sb.cli(['rollback', sb.runbook]).code).toBe(0);
    expect(sb.cli(['status', sb.runbook]).code).toBe(0);
  });

  it('one change to confirm "needs" confirmation; two "need" it', () => {
    const sb = fourChanges();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('confirmFrom: 3', 'confirmFrom: 2'));
    const one = sb.cli(['apply', sb.runbook]);
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/^runbook: 2\. change-2 \(risk 2\/10\) needs confirmation/);
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('risk: 0', 'risk: 2'));
    expect(sb.cli(['apply', sb.runbook]).stderr).toMatch(/^runbook: 1\. change-1 \(risk 2\/10\), 2\. change-2 \(risk 2\/10\) need confirmation/);
  });

  it('a change with no verify steps left applied reads "(no verify steps)", never "applied (applied (…))"', () => {
    const sb = fourChanges({ onFailure: 'rollback-change' });
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace(/( {2}- id: change-1\n(?:.*\n)*?) {4}verify:\n(?: {6}.*\n)+/, '$1'));
    const r = sb.cli(['apply', sb.runbook, '--var', 'fail_at=2']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('still applied: 1. change-1 (no verify steps)');
    expect(r.stdout).not.toMatch(/applied \(applied/);
  });

  it('plan shows titles with their {{ }} filled', () => {
    const sb = fourChanges();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('title: Four changes', 'title: "Four changes in {{ dir }}"').replace('title: Change 1', 'title: "Change 1 (fail at {{ fail_at }})"'));
    const plan = sb.cli(['plan', sb.runbook, '--var', 'fail_at=9']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain(`Four changes in ${sb.dir} (four-changes)`);
    expect(plan.stdout).toContain('Change 1 (fail at 9)');
    expect(plan.stdout).not.toContain('{{');
  });

  it('a URL var whose password has # in it is refused with the advice to percent-encode it (file:line:col, exit 2)', () => {
    const sb = fourChanges();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('vars: {', 'vars: { db_url: "postgres://app:pa#ss@127.0.0.1:5432/db", ').replace('    verify:\n', '      - postgres: { url: "{{ db_url }}", query: "select 1" }\n    verify:\n'));
    const r = sb.cli(['validate', sb.runbook]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/runbook\.yaml:\d+:\d+: .*must be a URL base.*percent-encode them \(# as %23, @ as %40, \/ as %2F\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a templated timeout is filled and enforced; one that does not fill to a duration is refused at file:line:col (exit 2)', () => {
    const sb = fourChanges();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('vars: {', 'vars: { step_timeout: 1s, ').replace('    verify:\n', '    verify:\n      - run: "sleep 5"\n        timeout: "{{ step_timeout }}"\n'));
    const r = sb.cli(['apply', sb.runbook, '--only', 'change-1']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/sleep 5 … FAILED 1\.\ds: timed out after 1\.0s/);
    const bad = sb.cli(['validate', sb.runbook, '--var', 'step_timeout=soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/runbook\.yaml:\d+:\d+: timeout \{\{ step_timeout \}\} must fill to a duration with a unit such as 500ms, 30s, 5m or 1h — got "soon"/);
  });

  it('--verbose names a step before its output, and a line break in a value does not split a progress line', () => {
    const sb = fourChanges();
    writeFileSync(
      sb.runbook,
      readFileSync(sb.runbook, 'utf8')
        .replace('vars: {', 'vars: { note: "two\\nlines", ')
        .replace('    verify:\n', '    verify:\n      - name: "say {{ note }}"\n        run: "echo output-of-say"\n'),
    );
    const r = sb.cli(['apply', sb.runbook, '--only', 'change-1', '--verbose']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    const output = lines.findIndex((l) => l.includes('│ output-of-say'));
    expect(output).toBeGreaterThan(0);
    expect(lines[output - 1]).toBe('[verify 1/1 change-1 · step 1] say two⏎lines …');
    expect(lines[output + 1]).toMatch(/^\[verify 1\/1 change-1 · step 1\] say two⏎lines … ok /);
    expect(lines.some((l) => l === 'lines …' || l.startsWith('lines … ok'))).toBe(false);
  });

  it('verify retries say "attempt 1/5 … retrying" for attempts a later one makes good; only a final failure says FAILED', () => {
    const sb = fourChanges();
    const flaky = (n: number) => `      - name: third time lucky\n        run: "n=$(cat {{ dir }}/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > {{ dir }}/count; test $n -ge ${n}"\n        retries: 4\n        interval: 10ms\n`;
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('    verify:\n', `    verify:\n${flaky(3)}`));
    const r = sb.cli(['apply', sb.runbook, '--only', 'change-1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/third time lucky … attempt 1\/5 did not pass \S+: command exited with code 1 — retrying\n/);
    expect(r.stdout).toMatch(/third time lucky … attempt 2\/5 did not pass/);
    expect(r.stdout).toMatch(/third time lucky … ok \S+ \(attempt 3\/5\)/);
    expect(r.stdout).not.toMatch(/FAILED/);

    expect(sb.cli(['rollback', sb.runbook]).code).toBe(0);
    writeFileSync(`${sb.dir}/count`, '-100');
    const never = sb.cli(['apply', sb.runbook, '--only', 'change-1']);
    expect(never.code).toBe(1);
    expect(never.stdout.match(/did not pass/g)).toHaveLength(4);
    expect(never.stdout).toMatch(/third time lucky … FAILED \S+ \(attempt 5\/5\)/);
  });

  it('SIGINT during apply, output piped: the "interrupted" line comes before the rollback it announces', async () => {
    const sb = fourChanges();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('      - name: fault injection point 2\n', '      - run: "touch {{ dir }}/at-2; sleep 30"\n      - name: fault injection point 2\n'));
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'at-2')));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stdout + r.stderr).toBe(130);
    const lines = r.stdout.split('\n');
    const interrupted = lines.findIndex((l) => l.startsWith('SIGINT: interrupted: stopping the running step, then rolling back'));
    const failed = lines.findIndex((l) => l.includes('FAILED') && l.includes('interrupted (SIGINT)'));
    const rollingBack = lines.findIndex((l) => l.startsWith('↩ rolling back change-2, change-1 (interrupted)'));
    const rolledBack = lines.findIndex((l) => l.startsWith('↩ change-1 rolled back'));
    expect(interrupted, r.stdout).toBeGreaterThan(lines.findIndex((l) => l.startsWith('── change 2:')));
    expect(failed).toBeGreaterThan(interrupted);
    expect(rollingBack).toBeGreaterThan(failed);
    expect(rolledBack).toBeGreaterThan(rollingBack);
    expect(r.stderr).not.toMatch(/SIGINT: interrupted/);
    expect(sb.snapshot()).toEqual(before);
  });
});
