import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';

const fixtures = join(repoRoot, 'test', 'fixtures');
const varsDir = join(fixtures, 'vars');
const runbook = join(varsDir, 'runbook.yaml');
const valid = (name: string) => join(fixtures, 'valid', name);

describe('problems in --vars-file and --var are reported where they are', () => {
  it('an unknown variable in a vars file points at its "{{" in that file', () => {
    const file = join(varsDir, 'undefined-var.vars.yaml');
    const r = runCli(['validate', runbook, '--vars-file', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:1:11: unknown variable "undefined_x" in template`);
    expect(r.stderr).toContain('  1 | app_dir: "{{ undefined_x }}/y"\n    |           ^\n');
    expect(r.stderr).not.toContain(`${runbook}:1:1`);
  });

  it('an unclosed "{{" in a vars file is an error, as it is in the runbook', () => {
    const file = join(varsDir, 'unclosed-template.vars.yaml');
    const r = runCli(['validate', runbook, '--vars-file', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:1:11: unclosed "{{"`);
  });

  it('an unknown variable in a --var names the --var', () => {
    const r = runCli(['validate', runbook, '--var', 'app_dir={{ undefined_y }}']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^--var app_dir: unknown variable "undefined_y" in template/m);
    expect(r.stderr).not.toContain(`${runbook}:1:1`);
  });

  it('a --var naming no variable of the runbook is a usage error with a suggestion', () => {
    const r = runCli(['plan', runbook, '--var', 'app_dri=/x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^runbook: --var app_dri: the runbook declares no variable "app_dri" \(did you mean app_dir\?\)/m);
    expect(r.stdout).toBe('');
  });

  it('a vars-file key the runbook does not declare is ignored with a warning; the others apply', () => {
    const file = join(varsDir, 'unknown-key.vars.yaml');
    const r = runCli(['plan', runbook, '--vars-file', file, '--format', 'json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`${file}:1:1: warning: "app_dri" is not a variable of this runbook (did you mean app_dir?); it is ignored\n`);
    expect(JSON.parse(r.stdout).changes[0].apply[0].label).toBe('write /srv/other/x');
  });

  it('a vars file may give a secret that is no variable: no warning, and its value is redacted; a --var of it is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-secret-vars-'));
    const rb = join(dir, 'rb.yaml');
    writeFileSync(rb, 'runbook: 1\nname: s\nsecrets: [API_TOKEN]\nchanges:\n  - id: a\n    title: A\n    risk: 0\n    apply:\n      - run: "echo token=tok-9f8e7d"\n    rollback:\n      - run: "true"\n');
    const file = join(dir, 'vars.yaml');
    writeFileSync(file, 'API_TOKEN: tok-9f8e7d\n', { mode: 0o600 });
    const r = runCli(['apply', rb, '--vars-file', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('echo token=***');
    expect(r.stdout).not.toContain('tok-9f8e7d');
    const json = runCli(['plan', rb, '--vars-file', file, '--format', 'json']);
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout).not.toContain('tok-9f8e7d');
    expect(JSON.parse(json.stdout).changes[0].apply[0].label).toBe('echo token=***');
    const flag = runCli(['plan', rb, '--var', 'API_TOKEN=tok-9f8e7d']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--var API_TOKEN: API_TOKEN is a secret; give it in the environment or a vars file');
  });

  it('a --var that refers to itself is an error, not a literal label', () => {
    const r = runCli(['plan', runbook, '--var', 'app_dir={{ app_dir }}/sub']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^--var app_dir: variable app_dir refers to itself \(app_dir → app_dir; app_dir is set by --var\)$/m);
  });
});

describe('secrets never appear in error output', () => {
  it('the code frame of a vars-file problem masks the value of a secret', () => {
    const file = join(varsDir, 'duplicate-secret.vars.yaml');
    const r = runCli(['validate', runbook, '--vars-file', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:2:1: duplicate key "db_pass" (first at line 1)`);
    expect(r.stderr).toContain('  2 | db_pass: ***\n');
    expect(r.stderr).not.toContain('hunter2pass');
  });

  it('the code frame of the runbook masks a secret on the same line and keeps the caret on the problem', () => {
    const file = join(varsDir, 'secret-on-error-line.yaml');
    const r = runCli(['validate', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('hunter2pass');
    const [frame, caret] = r.stderr.split('\n').filter((l) => /^\s+\d* \| /.test(l));
    expect(frame).toBe('  3 | vars: { db_pass: ***, dir: "{{ nope }}" }');
    expect(caret!.indexOf('^')).toBe(frame!.indexOf('{{'));
  });

  it('a message quoting a secret value masks it', () => {
    const r = runCli(['validate', join(varsDir, 'secret-in-message.yaml'), '--var', 'schedule=hunter2pass not a schedule']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cron\.schedule is not a valid cron schedule .*: "\*\*\*"/);
    expect(r.stderr).not.toContain('hunter2pass');
  });
});

describe('what the loader prints', () => {
  it('a long line is shown as a window around the column, the caret under the problem', () => {
    const file = join(fixtures, 'broken', '65-undefined-var-on-long-line.yaml');
    const r = runCli(['validate', file]);
    const [frame, caret] = r.stderr.split('\n').filter((l) => /^\s+\d* \| /.test(l));
    expect(frame!.length).toBeLessThan(140);
    expect(frame).toContain('{{ nope }}');
    expect(caret!.indexOf('^')).toBe(frame!.indexOf('{{'));
  });

  it('uses the path as given, on success and on errors', () => {
    const broken = relative(repoRoot, join(fixtures, 'broken', '16-undefined-var.yaml'));
    expect(runCli(['validate', broken]).stderr).toMatch(new RegExp(`^${broken.replaceAll('.', '\\.')}:9:24: `));
    const ok = runCli(['validate', relative(repoRoot, valid('irreversible.yaml'))]);
    expect(ok.stdout).toBe('test/fixtures/valid/irreversible.yaml: valid (1 change, 1 step)\n');
  });

  it('counts in words: one change needs confirmation, two changes are above maxRisk', () => {
    const r = runCli(['plan', valid('wording.yaml')]);
    expect(r.stdout).toContain('Policy: NEEDS --accept-risk — 2 changes above maxRisk 1 (a, b): apply needs --accept-risk; 1 change needs confirmation (risk ≥ 3: b);');
  });
});

describe('format features', () => {
  it('merge keys reuse anchors kept under x- keys', () => {
    const r = runCli(['plan', valid('merge-keys.yaml'), '--format', 'json']);
    expect(r.code).toBe(0);
    const verify = JSON.parse(r.stdout).changes[0].verify as { label: string }[];
    expect(verify.map((s) => s.label)).toEqual(['GET http://127.0.0.1:9191/health → 200, contains "ok"', 'Health again']);
  });

  it('steps that change nothing (wait, which, disk, env, http GET/HEAD, postgres query) need no rollback', () => {
    const r = runCli(['validate', valid('side-effect-free-apply.yaml')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('a change that cannot be undone says so with rollback: { none: reason }, and plan shows it loudly', () => {
    const file = valid('irreversible.yaml');
    const table = runCli(['plan', file]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('1 change CANNOT BE UNDONE (drop-cache)');
    expect(table.stdout).toContain('⚠ Change 1 (drop-cache) CANNOT BE UNDONE: the cache is rebuilt on demand; nothing to restore');
    expect(runCli(['plan', file, '--format', 'markdown']).stdout).toContain('**Rollback:** ⚠️ **cannot be undone:** the cache is rebuilt on demand; nothing to restore');
    const json = JSON.parse(runCli(['plan', file, '--format', 'json']).stdout);
    expect(json.changes[0]).toMatchObject({ rollback: { automatic: false, none: 'the cache is rebuilt on demand; nothing to restore', steps: [] }, irreversible: 'the cache is rebuilt on demand; nothing to restore' });
  });

  it('env with a file checks the file the app reads, not runbook’s own environment', () => {
    const r = runCli(['plan', join(varsDir, 'env-file-preflight.yaml'), '--check'], { env: { HOME: '/root' } });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain('missing or empty: HOME (in app.env)');
  });
});
