import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'runbook-irreversible-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Change 1 edits a file (undone by its inverse); change 2 cannot be undone and fails its verify. */
const runbook = `runbook: 1
name: irreversible
changes:
  - id: edit
    title: Edit a file
    risk: 0
    apply:
      - file: { path: a.txt, content: "new\\n" }
  - id: drop
    title: Something that cannot be undone
    risk: 0
    apply:
      - run: "echo done > b.txt"
    verify:
      - run: "false"
    rollback: { none: "b.txt stays; delete it by hand" }
`;

describe('a change declared rollback: { none: reason }', () => {
  it('is left applied when a rollback runs, the others are undone, and the run says so (exit 3)', () => {
    writeFileSync(join(dir, 'runbook.yaml'), runbook);
    writeFileSync(join(dir, 'a.txt'), 'old\n');
    const r = runCli(['apply', join(dir, 'runbook.yaml'), '--yes'], { cwd: dir });
    expect(r.code).toBe(3);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('old\n');
    expect(existsSync(join(dir, 'b.txt'))).toBe(true);
    const report = r.stdout + r.stderr;
    expect(report).toContain('cannot be undone (rollback: none): b.txt stays; delete it by hand');
    expect(report).toMatch(/still applied: 2\. drop/);
    expect(report).not.toContain('the system is as before this run');
    expect(report).toContain('  drop: cannot be undone by runbook — b.txt stays; delete it by hand');

    const again = runCli(['rollback', join(dir, 'runbook.yaml'), '--yes'], { cwd: dir });
    expect(again.code).toBe(3);
    expect(again.stdout + again.stderr).toContain('cannot be undone (rollback: none): b.txt stays; delete it by hand');
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('old\n');
  });
});
