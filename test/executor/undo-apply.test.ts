import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { backend } from '../support/state-backend.js';

/**
 * "Edit config + restart": a file step (automatic inverse) and a restart (a run step, no
 * inverse) in apply; the rollback is `undo: apply`, then the restart again. The restart logs
 * the config as it sees it, so the order is visible.
 */
function configAndRestart(rollback = '[ { undo: apply }, { name: restart app, run: "cat {{ dir }}/app.conf >> {{ dir }}/restarts.log; echo >> {{ dir }}/restarts.log" } ]') {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-undo-apply-'));
  const conf = join(dir, 'app.conf');
  const original = 'pool=5\r\ntimeout=10\r\nname=app'; // CRLF, no final newline
  writeFileSync(conf, original);
  const runbook = join(dir, 'runbook.yaml');
  writeFileSync(
    runbook,
    `runbook: 1
name: undo-apply
title: Edit config and restart
vars: { dir: "${dir}", fail: "no" }
changes:
  - id: tune
    title: Tune the pool, restart the app
    risk: 0
    rollbackTime: 1m
    apply:
      - file: { path: "{{ dir }}/app.conf", replace: { from: "pool=5", to: "pool=10" } }
      - file: { path: "{{ dir }}/app.conf", regexp: "^timeout=", line: "timeout=30" }
      - name: restart app
        run: "cat {{ dir }}/app.conf >> {{ dir }}/restarts.log; echo >> {{ dir }}/restarts.log"
    verify:
      - run: "test {{ fail }} = no"
    rollback: ${rollback}
`,
  );
  return { dir, conf, original, runbook, bytes: () => readFileSync(conf, 'latin1'), restarts: () => readFileSync(join(dir, 'restarts.log'), 'latin1') };
}

describe(`rollback lists with \`undo: apply\`, with the ${backend} state backend`, () => {
  it('undo: apply + restart restores a CRLF file without final newline byte for byte, then runs the restart', () => {
    const sb = configAndRestart();
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
    expect(sb.bytes()).toBe('pool=10\r\ntimeout=30\r\nname=app');
    const rb = runCli(['rollback', sb.runbook]);
    expect(rb.code).toBe(0);
    expect(sb.bytes()).toBe(sb.original);
    // The restart at apply saw the new config; the one in the rollback ran after the file was restored.
    expect(sb.restarts()).toBe('pool=10\r\ntimeout=30\r\nname=app\npool=5\r\ntimeout=10\r\nname=app\n');
    expect(rb.stdout).toMatch(/restore \S+app\.conf[\s\S]*restore \S+app\.conf[\s\S]*restart app/);
  });

  it('the automatic rollback of a failed verify uses it too', () => {
    const sb = configAndRestart();
    const r = runCli(['apply', sb.runbook, '--var', 'fail=yes']);
    expect(r.code).toBe(1);
    expect(sb.bytes()).toBe(sb.original);
    expect(sb.restarts().split('\n').filter(Boolean).length).toBe(6); // three lines at apply, three at rollback
    expect(sb.restarts().endsWith('pool=5\r\ntimeout=10\r\nname=app\n')).toBe(true);
  });

  it('plan says how each change is undone, in the table: automatic, written, mixed, cannot be undone', () => {
    const sb = configAndRestart();
    const more = `  - id: auto
    title: Automatic
    risk: 0
    apply: [ { file: { path: "{{ dir }}/other.conf", content: "x" } } ]
  - id: written
    title: Written
    risk: 0
    apply: [ { run: "true" } ]
    rollback: [ { run: "true" } ]
  - id: gone
    title: Gone
    risk: 0
    apply: [ { run: "true" } ]
    rollback: { none: "drops a table" }
`;
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8') + more);
    const table = runCli(['plan', sb.runbook]);
    expect(table.code).toBe(0);
    const row = (title: string) => table.stdout.split('\n').find((l) => l.includes(title)) ?? '';
    expect(row('Tune the pool')).toMatch(/│ mixed, 1m\s+│/);
    expect(row('Automatic')).toMatch(/│ automatic\s+│/);
    expect(row('Written')).toMatch(/│ written\s+│/);
    expect(row('Gone')).toMatch(/│ cannot be undone\s+│/);
    const json = JSON.parse(runCli(['plan', sb.runbook, '--format', 'json']).stdout) as { changes: { rollback: { how: string; steps: { label: string }[] } }[] };
    expect(json.changes[0]!.rollback.how).toBe('mixed');
    // `undo: apply` stands for the inverses of the two file steps (newest first); the run step has none.
    const labels = json.changes[0]!.rollback.steps.map((s) => s.label);
    expect(labels).toHaveLength(3);
    expect(labels[0]).toMatch(/^undo: ensure line in .*app\.conf/);
    expect(labels[1]).toMatch(/^undo: replace in .*app\.conf/);
    expect(labels[2]).toBe('restart app');
    expect(runCli(['plan', sb.runbook, '--format', 'markdown']).stdout).toMatch(/\| mixed, 1m \|/);
  });

  it.each([
    ['in apply', (t: string) => t.replace('    apply:\n', '    apply:\n      - undo: apply\n'), /runbook\.yaml:\d+:\d+: .*`undo: apply` belongs in a change's rollback list/],
    ['twice', (t: string) => t.replace('rollback: [ { undo: apply },', 'rollback: [ { undo: apply }, { undo: apply },'), /runbook\.yaml:\d+:\d+: .*has `undo: apply` twice/],
    [
      'where no apply step undoes itself',
      (t: string) => t.replace(/ {6}- file: .*\n {6}- file: .*\n/, ''),
      /runbook\.yaml:\d+:\d+: .*`undo: apply` would undo nothing, since none of its apply steps undoes itself/,
    ],
    ['with another value', (t: string) => t.replace('{ undo: apply }', '{ undo: verify }'), /runbook\.yaml:\d+:\d+: .*undo/],
  ])('is refused %s: file:line:col, exit 2, no stack trace', (_what, edit, message) => {
    const sb = configAndRestart();
    writeFileSync(sb.runbook, edit(readFileSync(sb.runbook, 'utf8')));
    const r = runCli(['validate', sb.runbook]);
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
