import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareRuns, newRunId } from '../../src/engine/run-id.js';
import { runCli } from '../support/cli.js';
import { fourChanges } from './fixture.js';

/** Two changes that write the same file: undoing them in the wrong order leaves the wrong bytes. */
function sameFile() {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-order-'));
  writeFileSync(join(dir, 'f.txt'), 'original\n');
  const change = (id: string) => `  - id: ${id}\n    title: ${id}\n    risk: 0\n    apply:\n      - file: { path: f.txt, content: "${id}\\n" }\n    verify:\n      - run: "grep -q ${id} f.txt"\n`;
  const runbook = join(dir, 'rb.yaml');
  writeFileSync(runbook, `runbook: 1\nname: order\ntitle: Order\nchanges:\n${change('first')}${change('second')}`);
  const runs = join(dir, '.runbook', 'runs');
  return { dir, runbook, runs, content: () => readFileSync(join(dir, 'f.txt'), 'utf8') };
}

describe('the order of runs', () => {
  it('a later run is undone first even when the clock stepped back between the two runs', () => {
    const sb = sameFile();
    expect(runCli(['apply', sb.runbook, '--only', 'first']).code).toBe(0);
    // The first run was made by a clock an hour ahead (then corrected by NTP): its id says so.
    const [name] = readdirSync(sb.runs);
    const ahead = new Date(Date.now() + 3600_000).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    renameSync(join(sb.runs, name!), join(sb.runs, `${ahead}-ffff.jsonl`));
    expect(runCli(['apply', sb.runbook, '--only', 'second']).code).toBe(0);
    const history = runCli(['history', sb.runbook]).stdout.trim().split('\n');
    expect(history[0]).toMatch(/first:verified/);
    expect(history[1]).toMatch(/second:verified/);
    expect(runCli(['rollback', sb.runbook]).code).toBe(0);
    expect(sb.content()).toBe('first\n');
    expect(runCli(['rollback', sb.runbook]).code).toBe(0);
    expect(sb.content()).toBe('original\n');
  });

  it('ids are later than every existing one, to the millisecond; ids from before ms precision sort by their second', () => {
    const at = new Date('2026-11-24T10:15:02.123Z');
    expect(newRunId([], at)).toMatch(/^20261124T101502\.123Z-[0-9a-f]{4}$/);
    expect(newRunId(['20261124T101502.123Z-ffff'], at)).toMatch(/^20261124T101502\.124Z-/);
    expect(newRunId(['20261124T111502Z-0000'], at)).toMatch(/^20261124T111502\.001Z-/);
    const ids = ['20261124T101502.500Z-0000', '20261124T101502Z-ffff', '20261124T101501.999Z-aaaa', '20261124T101502.001Z-1111'];
    expect(ids.map((runId) => ({ runId })).sort(compareRuns).map((r) => r.runId)).toEqual(['20261124T101501.999Z-aaaa', '20261124T101502Z-ffff', '20261124T101502.001Z-1111', '20261124T101502.500Z-0000']);
  });
});

describe('an unreadable lock file', () => {
  it('status shows it, unlock refuses it without --force and removes it with --force', () => {
    const sb = fourChanges();
    mkdirSync(sb.state, { recursive: true });
    writeFileSync(join(sb.state, 'lock'), 'garbage\n');
    const apply = runCli(['apply', sb.runbook]);
    expect(apply.code).toBe(4);
    expect(apply.stderr).toMatch(/lock file .* is unreadable .* remove it with: runbook unlock \S+ --force/);
    const status = runCli(['status', sb.runbook]);
    expect(status.stdout).toMatch(/lock: unreadable \(.*lock: it does not hold a runbook lock record/);
    expect(status.stdout).toMatch(/clear it with: runbook unlock \S+ --force/);
    const refused = runCli(['unlock', sb.runbook]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/unreadable .* refusing.* runbook unlock \S+ --force/);
    const forced = runCli(['unlock', sb.runbook, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/lock cleared \(was unreadable/);
    expect(runCli(['status', sb.runbook]).stdout).toMatch(/lock: free/);
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
  });
});

describe('a damaged journal line (not a torn last line)', () => {
  function twoRuns() {
    const sb = fourChanges();
    expect(runCli(['apply', sb.runbook, '--only', 'change-1']).code).toBe(0);
    expect(runCli(['apply', sb.runbook, '--only', 'change-2']).code).toBe(0);
    const runs = join(sb.state, 'runs');
    const [older, newer] = readdirSync(runs).sort();
    const damage = (name: string) => {
      const lines = readFileSync(join(runs, name), 'utf8').split('\n');
      lines[0] = 'garbage';
      writeFileSync(join(runs, name), lines.join('\n'));
      return join(runs, name);
    };
    return { sb, older: older!, newer: newer!, damage };
  }

  it('status and history name the file and line, still show the other runs, and exit 2', () => {
    const { sb, older, damage } = twoRuns();
    const path = damage(older);
    const status = runCli(['status', sb.runbook]);
    expect(status.code).toBe(2);
    expect(status.stdout).toMatch(/applied: 2\. change-2 — verified/);
    expect(status.stderr).toContain(`${path} line 1 is not a journal event`);
    expect(status.stderr).toMatch(/To go on: look at line 1/);
    const history = runCli(['history', sb.runbook]);
    expect(history.code).toBe(2);
    expect(history.stdout).toMatch(/DAMAGED JOURNAL/);
    expect(history.stdout).toMatch(/applied\s+change-2:verified/);
    expect(history.stderr).toContain(`${path} line 1`);
  });

  it('apply refuses with exit 3; rollback undoes the newer run, then refuses the damaged one with exit 3', () => {
    const { sb, older, damage } = twoRuns();
    const path = damage(older);
    const apply = runCli(['apply', sb.runbook]);
    expect(apply.code).toBe(3);
    expect(apply.stderr).toContain(`${path} line 1 is not a journal event`);
    expect(apply.stderr).toMatch(/Nothing was changed/);
    expect(runCli(['rollback', sb.runbook]).code).toBe(0);
    expect(sb.snapshot()['conf2.txt']).toContain('setting2=old');
    const rb = runCli(['rollback', sb.runbook]);
    expect(rb.code).toBe(3);
    expect(rb.stderr).toMatch(/Nothing was rolled back/);
    expect(rb.stderr).toContain(`look at line 1 of ${path}`);
  });

  it('a damaged newest run blocks rollback at once (exit 3), never exit 1', () => {
    const { sb, newer, damage } = twoRuns();
    damage(newer);
    const rb = runCli(['rollback', sb.runbook]);
    expect(rb.code).toBe(3);
    expect(rb.stderr).not.toMatch(/internal error/);
    expect(sb.snapshot()['conf2.txt']).toContain('setting2=new');
  });
});

describe('a state directory that cannot be one', () => {
  it('--state-dir naming a regular file is a usage error (exit 2) for apply and status', () => {
    const sb = fourChanges();
    const file = join(sb.dir, 'afile');
    writeFileSync(file, 'x');
    for (const cmd of ['apply', 'status', 'history', 'unlock']) {
      const r = runCli([cmd, sb.runbook, '--state-dir', file]);
      expect(r.code, cmd).toBe(2);
      expect(r.stderr, cmd).toMatch(/state directory .*afile is a file, not a directory/);
    }
    const under = runCli(['apply', sb.runbook, '--state-dir', join(file, 'sub')]);
    expect(under.code).toBe(2);
    expect(under.stderr).toMatch(/part of that path is a file/);
  });

  it('--state-dir under /proc fails at once with a clear error (it used to spin forever)', () => {
    const sb = fourChanges();
    const started = Date.now();
    const r = runCli(['apply', sb.runbook, '--state-dir', '/proc/nope']);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot create the state directory \/proc\/nope/);
    expect(sb.snapshot()['conf1.txt']).toContain('setting1=old');
  });
});
