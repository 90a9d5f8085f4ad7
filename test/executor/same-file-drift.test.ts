import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { backend } from '../support/state-backend.js';

/** One file, edited by two changes of one runbook (CRLF, no final newline: bytes matter). */
function twoChangesOneFile() {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-samefile-'));
  const file = join(dir, 'app.conf');
  const original = 'pool=5\r\ntimeout=10\r\nname=app';
  writeFileSync(file, original);
  const change = (id: string, from: string, to: string) => `  - id: ${id}
    title: ${id}
    risk: 0
    apply:
      - file: { path: "${file}", replace: { from: "${from}", to: "${to}" } }
    verify:
      - run: "grep -q ${to} ${file}"
`;
  const runbook = join(dir, 'runbook.yaml');
  writeFileSync(runbook, `runbook: 1\nname: same-file\ntitle: Same file\nchanges:\n${change('pool', 'pool=5', 'pool=10')}${change('timeout', 'timeout=10', 'timeout=30')}`);
  return { dir, file, original, runbook, bytes: () => readFileSync(file, 'latin1') };
}

describe(`two changes of one run on one file, with the ${backend} state backend`, () => {
  it('status warns of no one else, and rollback restores the bytes without --force', () => {
    const sb = twoChangesOneFile();
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
    expect(sb.bytes()).toBe('pool=10\r\ntimeout=30\r\nname=app');
    const status = runCli(['status', sb.runbook]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/applied: 1\. pool — verified/);
    expect(status.stdout).toMatch(/applied: 2\. timeout — verified/);
    expect(status.stdout).not.toMatch(/someone else/);
    // Half-way back (the second change undone) is not drift either.
    expect(runCli(['rollback', sb.runbook, '--to', 'timeout']).code).toBe(0);
    expect(sb.bytes()).toBe('pool=10\r\ntimeout=10\r\nname=app');
    expect(runCli(['status', sb.runbook]).stdout).not.toMatch(/someone else/);
    const rb = runCli(['rollback', sb.runbook]);
    expect(rb.code).toBe(0);
    expect(sb.bytes()).toBe(sb.original);
  });

  it('an edit by someone else after the apply is still named, once, and rollback refuses it without --force (exit 3)', () => {
    const sb = twoChangesOneFile();
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
    writeFileSync(sb.file, sb.bytes() + '\r\nextra=1');
    const status = runCli(['status', sb.runbook]);
    expect(status.stdout.match(/was changed by someone else after the apply/g)).toHaveLength(1);
    const rb = runCli(['rollback', sb.runbook]);
    expect(rb.code).toBe(3);
    expect(sb.bytes()).toContain('extra=1');
    expect(runCli(['rollback', sb.runbook, '--force']).code).toBe(0);
    expect(sb.bytes()).toBe(sb.original);
  });
});
