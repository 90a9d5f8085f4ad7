import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

/** The operator's story: apply max 5 → 10, someone adds a hotfix line, then a rollback is asked for. */
function poolRunbook() {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-file-drift-'));
  const auth = join(dir, 'auth.js');
  writeFileSync(auth, 'const pool = { max: 5 };\n');
  const runbook = join(dir, 'runbook.yaml');
  writeFileSync(
    runbook,
    `runbook: 1
name: pool
changes:
  - id: db-pool
    title: DB pool tuning
    risk: 2
    apply:
      - file: { path: auth.js, replace: { from: "max: 5", to: "max: 10" } }
    verify:
      - run: "grep -q 'max: 10' auth.js"
`,
  );
  return { dir, auth, runbook };
}

describe('runbook rollback of a file someone edited after the apply', () => {
  it('status warns, rollback refuses with exit 3 naming the file and --force, and the hotfix is kept', () => {
    const { auth, runbook } = poolRunbook();
    expect(runCli(['apply', runbook]).code).toBe(0);
    appendFileSync(auth, 'operator-hotfix: true\n');

    const status = runCli(['status', runbook]);
    expect(status.stdout).toContain(`warning: ${auth} was changed by someone else after the apply`);
    expect(JSON.parse(runCli(['status', runbook, '--json']).stdout).applied[0].drifted).toHaveLength(1);

    const refused = runCli(['rollback', runbook]);
    expect(refused.code).toBe(3);
    expect(refused.stdout).toContain(`${auth} was changed by someone else after the apply`);
    expect(refused.stdout).toContain('runbook rollback --force');
    expect(readFileSync(auth, 'utf8')).toBe('const pool = { max: 10 };\noperator-hotfix: true\n');

    const forced = runCli(['rollback', runbook, '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(auth, 'utf8')).toBe('const pool = { max: 5 };\n');
  });

  it('an operator who put the file back by hand gets a rollback that finishes without touching it', () => {
    const { auth, runbook } = poolRunbook();
    expect(runCli(['apply', runbook]).code).toBe(0);
    appendFileSync(auth, 'operator-hotfix: true\n');
    expect(runCli(['rollback', runbook]).code).toBe(3);
    writeFileSync(auth, 'const pool = { max: 5 };\n');
    const r = runCli(['rollback', runbook]);
    expect(r.code).toBe(0);
    expect(readFileSync(auth, 'utf8')).toBe('const pool = { max: 5 };\n');
  });

  it('without later edits, status has no warning and rollback restores the bytes', () => {
    const { auth, runbook } = poolRunbook();
    expect(runCli(['apply', runbook]).code).toBe(0);
    expect(runCli(['status', runbook]).stdout).not.toContain('warning');
    expect(runCli(['rollback', runbook]).code).toBe(0);
    expect(readFileSync(auth, 'utf8')).toBe('const pool = { max: 5 };\n');
  });
});
