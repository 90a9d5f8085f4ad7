import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { fourChanges } from './fixture.js';

describe('choosing changes and checking the live system', () => {
  it('--only applies one change; --from starts at a change; an unknown id is a usage error', () => {
    const sb = fourChanges();
    expect(runCli(['apply', sb.runbook, '--only', 'change-2']).code).toBe(0);
    let now = sb.snapshot();
    expect([now['conf1.txt'], now['conf2.txt'], now['conf3.txt']].map((t) => t!.split('\n')[0])).toEqual(['setting1=old', 'setting2=new', 'setting3=old']);
    expect(runCli(['apply', sb.runbook, '--from', 'change-3']).code).toBe(0);
    now = sb.snapshot();
    expect(now['conf4.txt']).toContain('setting4=new');
    expect(now['conf1.txt']).toContain('setting1=old');
    const bad = runCli(['apply', sb.runbook, '--only', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no change "nope" .* changes: change-1, change-2, change-3, change-4/);
  });

  it('plan --check runs the read-only preflight against the live system and reports every failure', () => {
    const sb = fourChanges();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('changes:\n', 'preflight:\n  - which: [bash]\n  - which: [no-such-tool-here]\nchanges:\n'));
    const r = runCli(['plan', sb.runbook, '--check']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/bash installed … ok/);
    expect(r.stdout).toMatch(/not found on PATH: no-such-tool-here/);
    expect(sb.snapshot()['conf1.txt']).toContain('setting1=old');
  });
});
