import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

function runbook(dir: string, body: string): string {
  writeFileSync(join(dir, 'conf.txt'), 'v=1\n');
  const file = join(dir, 'rb.yaml');
  writeFileSync(
    file,
    `runbook: 1
name: stability
vars: { dir: "${dir}" }
${body}
changes:
  - id: edit
    title: Edit
    risk: 0
    apply:
      - file: { path: "{{ dir }}/conf.txt", replace: { from: "v=1", to: "v=2" } }
`,
  );
  return file;
}

describe('verify: retries, passes, settle, and the watch window', () => {
  it('retries a verify until it passes (a health endpoint down for a few seconds after a restart)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-verify-'));
    const file = runbook(dir, '');
    // Fails twice, then passes: counts its attempts in a file.
    writeFileSync(file, readFileSync(file, 'utf8') + `    verify:\n      - run: "n=$(cat {{ dir }}/n 2>/dev/null || echo 0); echo $((n+1)) > {{ dir }}/n; test $n -ge 2"\n        retries: 5\n        interval: 50ms\n`);
    const r = runCli(['apply', file]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'n'), 'utf8').trim()).toBe('3');
    expect(r.stdout).toMatch(/attempt 3/);
  });

  it('passes: 3 needs three consecutive successes; a flapping check fails and rolls back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-verify-'));
    const file = runbook(dir, '');
    // Succeeds on odd attempts only: never three in a row.
    writeFileSync(file, readFileSync(file, 'utf8') + `    verify:\n      - run: "n=$(cat {{ dir }}/n 2>/dev/null || echo 0); echo $((n+1)) > {{ dir }}/n; test $((n % 2)) = 0"\n        passes: 3\n        retries: 2\n        interval: 10ms\n        settle: 100ms\n`);
    const r = runCli(['apply', file]);
    expect(r.code).toBe(1);
    expect(readFileSync(join(dir, 'conf.txt'), 'utf8')).toBe('v=1\n');
  });

  it('a failure inside the watch window after the last change still rolls back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-watch-'));
    const file = runbook(dir, 'watch: { duration: 3s, interval: 100ms }');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('    apply:\n', '    rollback:\n      - file: { path: "{{ dir }}/conf.txt", replace: { from: "v=2", to: "v=1" } }\n    apply:\n      - run: "(sleep 0.5; touch {{ dir }}/broken) > /dev/null 2>&1 &"\n') +
        `    verify:\n      - run: "test ! -e {{ dir }}/broken"\n`,
    );
    const started = Date.now();
    const r = runCli(['apply', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/watch: re-verifying every change for 3\.0s/);
    expect(r.stdout).toMatch(/edit failed in watch/);
    expect(readFileSync(join(dir, 'conf.txt'), 'utf8')).toBe('v=1\n');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a watch window with nothing failing ends in success', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-watch-'));
    const file = runbook(dir, 'watch: { duration: 500ms, interval: 100ms }');
    writeFileSync(file, readFileSync(file, 'utf8') + `    verify:\n      - run: "grep -q v=2 {{ dir }}/conf.txt"\n`);
    const r = runCli(['apply', file]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'conf.txt'), 'utf8')).toBe('v=2\n');
  });
});
