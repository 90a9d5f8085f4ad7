import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nameChange, rehearsalRunbook, SECRET } from './rehearse-fixture.js';

describe('apply --rehearse: each change applied, verified, rolled back, its undo proven, applied again', () => {
  it('passes when every undo is exact and the rehearse checks pass on the rolled-back system; the run ends applied, and the journal names what was compared but holds none of its bytes', () => {
    const s = rehearsalRunbook(nameChange('name=x'));
    const apply = s.cli(['apply', s.runbook, '--rehearse', '--junit', join(s.dir, 'junit.xml')]);
    expect(apply.code).toBe(0);
    expect(apply.stdout).toContain(`↻ rehearsal of pool: rolling it back, then proving the undo (${s.conf})`);
    expect(apply.stdout).toMatch(/\[rehearse 1\/2 pool · step 1\] pool is 20 again … ok/);
    expect(apply.stdout).toContain('↻ rehearsal of pool passed');
    expect(apply.stdout).toContain('↻ rehearsal of name passed');
    expect(apply.stdout).toContain('rehearsed:    1. pool, 2. name (rolled back, undo proven exact, applied again)');
    expect(s.bytes()).toBe(`pool=10\nname=y token=${SECRET}\n`);
    expect(readFileSync(join(s.dir, 'junit.xml'), 'utf8').match(/rollback rehearsal passed: undo exact, applied again/g)).toHaveLength(2);
    expect(s.cli(['history', s.runbook]).stdout).toMatch(/applied +pool:verified,rehearsal-passed name:verified,rehearsal-passed/);

    const events = s
      .journal()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; changeId?: string; result?: string; files?: string[] });
    expect(events.filter((e) => e.type === 'rehearsal.started').map((e) => [e.changeId, e.files])).toEqual([
      ['pool', [s.conf]],
      ['name', [s.conf]],
    ]);
    expect(events.filter((e) => e.type === 'rehearsal.finished').map((e) => [e.changeId, e.result])).toEqual([
      ['pool', 'passed'],
      ['name', 'passed'],
    ]);
    const rehearsalEvents = JSON.stringify(events.filter((e) => e.type.startsWith('rehearsal.')));
    expect(rehearsalEvents).not.toContain('pool=20');
    expect(rehearsalEvents).not.toContain(Buffer.from(`pool=20\n`).toString('base64').slice(0, 8));

    // A later rollback undoes the second application: the file is as before the run.
    expect(s.cli(['rollback', s.runbook, '--yes']).code).toBe(0);
    expect(s.bytes()).toBe(`pool=20\nname=x token=${SECRET}\n`);
  });

  it('a written rollback that leaves a trailing newline fails the rehearsal with the diff (secret redacted), exit 1; the file is put back and the change before it rolled back: the file is byte-identical to before', () => {
    const s = rehearsalRunbook(nameChange('name=x\\n'));
    const before = s.bytes();
    const apply = s.cli(['apply', s.runbook, '--rehearse']);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toContain('↻ rehearsal of pool passed');
    expect(apply.stdout).toContain(`✖ rehearsal of name FAILED: the rollback is not exact: 1 thing differs from before the apply (${s.conf})`);
    expect(apply.stdout).toContain(`${s.conf}: content differs: 46 bytes before the apply, 47 after the rollback`);
    expect(apply.stdout).toMatch(/@@ line 2 @@\n\s+- name=x token=\*\*\*\n\s+\+ name=x\n\s+\+ {2}token=\*\*\*\n/);
    expect(apply.stdout).toContain(`put back as before the apply, from the rehearsal's copy: ${s.conf}`);
    expect(apply.stdout).toContain('failed:       name, rehearse step "rehearsal: prove the undo exact"');
    expect(apply.stdout).toContain('↩ rolling back pool (change name failed in rehearse)');
    expect(apply.stdout).toContain('rolled back:  1. pool, 2. name');
    expect(apply.stdout).toContain('still applied: nothing — the system is as before this run');
    expect(apply.stdout + apply.stderr + s.journal()).not.toContain(SECRET);
    expect(s.bytes()).toBe(before);
    // Nothing is left to undo, and nothing is unfinished.
    const status = s.cli(['status', s.runbook]);
    expect(status.code).toBe(0);
  });

  it('a rehearse check that fails on the rolled-back system fails the rehearsal: exit 1, that change stays rolled back, and the file is as before', () => {
    const s = rehearsalRunbook('', { poolCheck: 'grep -qx pool=30 app.conf' });
    const before = s.bytes();
    const apply = s.cli(['apply', s.runbook, '--rehearse']);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toMatch(/\[rehearse 1\/1 pool · step 1\] pool is 20 again … FAILED/);
    expect(apply.stdout).toContain('✖ rehearsal of pool FAILED');
    expect(apply.stdout).toContain('failed:       pool, rehearse step "pool is 20 again"');
    expect(apply.stdout).toContain('still applied: nothing — the system is as before this run');
    // The rehearsal already undid it: the run's rollback does not undo it twice.
    expect(apply.stdout).not.toContain('(change pool failed in rehearse)');
    expect(s.bytes()).toBe(before);
  });

  it('a cron.d file the change leaves behind is named as a crontab that did not exist before, and removed again', () => {
    const s = rehearsalRunbook(`  - id: nightly
    title: Nightly job
    risk: 0
    apply:
      - cron: { id: nightly, schedule: "0 3 * * *", command: "echo hi", file: cron.d-nightly }
    rollback:
      - run: "true"
`);
    const cronFile = join(s.dir, 'cron.d-nightly');
    const apply = s.cli(['apply', s.runbook, '--rehearse']);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toContain(`✖ rehearsal of nightly FAILED: the rollback is not exact: 1 thing differs from before the apply (${cronFile})`);
    expect(apply.stdout).toMatch(new RegExp(`${cronFile}: the table is still there \\(\\d+ bytes\\): it did not exist before the apply`));
    expect(apply.stdout).toMatch(/\+ 0 3 \* \* \* root echo hi # runbook:nightly/);
    expect(existsSync(cronFile)).toBe(false);
    expect(s.bytes()).toBe(`pool=20\nname=x token=${SECRET}\n`);
  });

  it('with onFailure: stop, a failed rehearsal leaves the earlier changes applied; its own change was undone by the rehearsal', () => {
    const s = rehearsalRunbook(nameChange('name=x\\n'), { onFailure: 'stop' });
    const apply = s.cli(['apply', s.runbook, '--rehearse']);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toContain('rolled back:  2. name');
    expect(apply.stdout).toContain('still applied: 1. pool (verified)');
    expect(s.bytes()).toBe(`pool=10\nname=x token=${SECRET}\n`);
  });

  it('plan shows the last rehearsal of each change from history: passed, FAILED with why, never rehearsed, and a change edited since', () => {
    const s = rehearsalRunbook(nameChange('name=x\\n'));
    expect(s.plan().stdout).not.toContain('Last rollback rehearsal');
    expect(s.cli(['apply', s.runbook, '--rehearse']).code).toBe(1);
    const table = s.plan();
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('Last rollback rehearsal (apply --rehearse):');
    expect(table.stdout).toMatch(/1\. pool — passed: undo exact \d{4}-\d\d-\d\d \d\d:\d\d UTC \(run \S+\)\n/);
    expect(table.stdout).toMatch(/2\. name — FAILED .* \(run \S+\): the rollback is not exact: 1 thing differs from before the apply/);

    const json = JSON.parse(s.plan('--format', 'json').stdout) as { changes: { id: string; rehearse: { label: string }[]; lastRehearsal: { result: string; sameDefinition: boolean } | null }[] };
    expect(json.changes.map((c) => [c.id, c.lastRehearsal?.result, c.lastRehearsal?.sameDefinition])).toEqual([
      ['pool', 'passed', true],
      ['name', 'failed', true],
    ]);
    expect(json.changes[0]!.rehearse.map((r) => r.label)).toEqual(['pool is 20 again']);
    expect(s.plan('--format', 'markdown').stdout).toContain('## Rollback rehearsals');

    // Edit change 2 and add a third: the plan says which rehearsal was of another definition, and which change never had one.
    writeFileSync(s.runbook, readFileSync(s.runbook, 'utf8').replace('name=x\\n"', 'name=x"') + `  - id: extra\n    title: Extra\n    risk: 0\n    apply:\n      - run: "true"\n    rollback:\n      - run: "true"\n`);
    const edited = s.plan().stdout;
    expect(edited).toMatch(/2\. name — FAILED .* — the change was edited \(or its vars changed\) since/);
    expect(edited).toContain('3. extra — never rehearsed');
  });
});
