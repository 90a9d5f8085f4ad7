import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';

const XSD = join(repoRoot, 'test', 'fixtures', 'junit', 'junit.xsd');
const SECRET = 'swordfish-4f2a91';

/** Validates with libxml2's xmllint against the JUnit XSD: [ok, what xmllint said]. */
function validate(xmlFile: string): [boolean, string] {
  const r = spawnSync('xmllint', ['--noout', '--schema', XSD, xmlFile], { encoding: 'utf8' });
  return [r.status === 0, r.stderr];
}

/** Three changes on three files; change 2's verify fails when fail_at=2 (after printing the secret and XML metacharacters). */
function sandbox(onFailure = 'rollback-all') {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-junit-'));
  for (const i of [1, 2, 3]) writeFileSync(join(dir, `c${i}.txt`), `s${i}=old\n`);
  const change = (i: number, verify: string) => `  - id: change-${i}
    title: Change ${i}
    risk: 0
    apply: [ { file: { path: "{{ dir }}/c${i}.txt", replace: { from: s${i}=old, to: s${i}=new } } } ]
    verify: [ ${verify} ]
`;
  const runbook = join(dir, 'runbook.yaml');
  writeFileSync(
    runbook,
    `runbook: 1
name: junit-report
title: JUnit report
vars: { dir: "${dir}", fail_at: "0", TOKEN: "" }
secrets: [TOKEN]
policy: { onFailure: ${onFailure} }
changes:
${change(1, `{ run: "grep -q s1=new {{ dir }}/c1.txt" }`)}${change(2, `{ name: health of change 2, run: "echo token={{ TOKEN }}; echo '<bad> & \\"worse\\"' >&2; echo '\\e[31mred\\e[0m'; test {{ fail_at }} != 2", retries: 1, interval: 50ms }`)}${change(3, `{ run: "grep -q s3=new {{ dir }}/c3.txt" }`)}`,
  );
  const vars = join(dir, 'vars.yaml');
  writeFileSync(vars, `TOKEN: ${SECRET}\n`, { mode: 0o600 });
  return { dir, runbook, vars, xml: join(dir, 'report.xml') };
}

describe('--junit: a JUnit XML report of apply and rollback, valid against the JUnit XSD', () => {
  it('a failed and rolled-back apply: one testcase per change, the failure with step, command, exit code and output tail, the change not run skipped', () => {
    const sb = sandbox();
    const r = runCli(['apply', sb.runbook, '--vars-file', sb.vars, '--var', 'fail_at=2', '--junit', sb.xml]);
    expect(r.code, r.stderr).toBe(1);
    const [ok, said] = validate(sb.xml);
    expect(ok, said).toBe(true);
    const xml = readFileSync(sb.xml, 'utf8');
    expect(xml).not.toContain(SECRET);
    expect(xml).toContain('token=***');
    expect(xml.match(/<testcase /g)).toHaveLength(3);
    expect(xml.match(/classname="junit-report"/g)).toHaveLength(3);
    expect(xml).toMatch(/<testsuite name="junit-report apply" tests="3" failures="1" errors="0" skipped="1"/);
    const failed = xml.slice(xml.indexOf('<testcase name="2. change-2'), xml.indexOf('<testcase name="3.'));
    expect(failed).toContain('<failure message="verify step 1 &quot;health of change 2&quot; failed: command exited with code 1" type="verify">');
    expect(failed).toContain('command: echo token=***;');
    expect(failed).toContain('exit code: 1');
    expect(failed).toContain('&lt;bad&gt; &amp; &quot;worse&quot;');
    expect(failed).toMatch(/attempt 2/);
    // A terminal colour code (ESC, which XML 1.0 cannot hold) in the command and its output is written as text.
    expect(failed).toContain('\\u{1b}[31mred');
    expect(xml).not.toContain('\u001b');
    expect(failed).toContain('rolled back');
    expect(xml).toMatch(/<testcase name="1\. change-1 — Change 1"[^>]*>\s*<system-out>[^<]*rolled back<\/system-out>/);
    expect(xml).toMatch(/<testcase name="3\. change-3 — Change 3" classname="junit-report" time="0.000">\s*<skipped message="not run: the run stopped at change-2"\/>/);
    expect(xml).toContain('<property name="runbook.outcome" value="rolled-back"/>');
  });

  it('a successful apply with --only: the others are skipped as not selected; the report validates', () => {
    const sb = sandbox();
    const r = runCli(['apply', sb.runbook, '--vars-file', sb.vars, '--only', 'change-1', '--junit', sb.xml]);
    expect(r.code, r.stderr).toBe(0);
    const [ok, said] = validate(sb.xml);
    expect(ok, said).toBe(true);
    const xml = readFileSync(sb.xml, 'utf8');
    expect(xml).toMatch(/tests="3" failures="0" errors="0" skipped="2"/);
    expect(xml.match(/<skipped message="not selected \(--only \/ --from\)"\/>/g)).toHaveLength(2);
  });

  it('rollback --junit: one testcase per change the run applied, each undone passes with its undo steps', () => {
    const sb = sandbox('stop');
    expect(runCli(['apply', sb.runbook, '--vars-file', sb.vars, '--var', 'fail_at=2']).code).toBe(1);
    const r = runCli(['rollback', sb.runbook, '--vars-file', sb.vars, '--junit', sb.xml]);
    expect(r.code, r.stderr).toBe(0);
    const [ok, said] = validate(sb.xml);
    expect(ok, said).toBe(true);
    const xml = readFileSync(sb.xml, 'utf8');
    expect(xml).toMatch(/<testsuite name="junit-report rollback" tests="2" failures="0" errors="0" skipped="0"/);
    expect(xml).toMatch(/<testcase name="2\. change-2 — Change 2"[^>]*>\s*<system-out>restore [^<]*: ok in \d+ms<\/system-out>/);
    expect(readFileSync(join(sb.dir, 'c2.txt'), 'utf8')).toBe('s2=old\n');

    // Nothing left to undo: CI still gets a report, every change skipped.
    const again = join(sb.dir, 'again.xml');
    expect(runCli(['rollback', sb.runbook, '--vars-file', sb.vars, '--junit', again]).code).toBe(0);
    const [valid, why] = validate(again);
    expect(valid, why).toBe(true);
    expect(readFileSync(again, 'utf8')).toMatch(/tests="2" failures="0" errors="0" skipped="2"/);
  });

  it('rollback --junit of changes two runs applied: one report, every change of both runs, newest run first', () => {
    const sb = sandbox();
    expect(runCli(['apply', sb.runbook, '--vars-file', sb.vars, '--only', 'change-1']).code).toBe(0);
    expect(runCli(['apply', sb.runbook, '--vars-file', sb.vars, '--only', 'change-2']).code).toBe(0);
    const r = runCli(['rollback', sb.runbook, '--vars-file', sb.vars, '--junit', sb.xml]);
    expect(r.code, r.stderr).toBe(0);
    const [ok, said] = validate(sb.xml);
    expect(ok, said).toBe(true);
    const xml = readFileSync(sb.xml, 'utf8');
    expect(xml).toMatch(/<testsuite name="junit-report rollback" tests="2" failures="0" errors="0" skipped="0"/);
    expect(xml.indexOf('change-2 — Change 2')).toBeLessThan(xml.indexOf('change-1 — Change 1'));
    expect(xml.indexOf('change-1 — Change 1')).toBeGreaterThan(-1);
    for (const i of [1, 2]) expect(readFileSync(join(sb.dir, `c${i}.txt`), 'utf8')).toBe(`s${i}=old\n`);
  });

  it('the XSD check is real: a report without classname or with a failure lacking its message is rejected', () => {
    const sb = sandbox();
    runCli(['apply', sb.runbook, '--vars-file', sb.vars, '--var', 'fail_at=2', '--junit', sb.xml]);
    const xml = readFileSync(sb.xml, 'utf8');
    const broken = join(sb.dir, 'broken.xml');
    writeFileSync(broken, xml.replace(' classname="junit-report"', ''));
    expect(validate(broken)[0]).toBe(false);
    writeFileSync(broken, xml.replace(/<failure message="[^"]*"/, '<failure'));
    expect(validate(broken)[1]).toMatch(/message.*required|required.*message/);
  });

  it('--junit into a directory that does not exist is a usage error before anything runs', () => {
    const sb = sandbox();
    const r = runCli(['apply', sb.runbook, '--vars-file', sb.vars, '--junit', join(sb.dir, 'no', 'such', 'r.xml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--junit .*: cannot write there \(no directory .*\); nothing was done/);
    expect(readFileSync(join(sb.dir, 'c1.txt'), 'utf8')).toBe('s1=old\n');
    expect(existsSync(join(sb.dir, '.runbook', 'runs'))).toBe(false);
  });
});
