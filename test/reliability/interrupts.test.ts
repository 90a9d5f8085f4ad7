import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fourChanges, type Sandbox } from '../executor/fixture.js';
import { runCli, startCli, waitFor } from '../support/cli.js';

/**
 * SIGINT/SIGTERM at each phase of apply and of `runbook rollback`: what the operator is left
 * with (bytes of every file, exit code, the report) must be what the contract says.
 */
function edit(sb: Sandbox, change: (text: string) => string): void {
  writeFileSync(sb.runbook, change(readFileSync(sb.runbook, 'utf8')));
}

/** Change k gets explicit rollback steps: a step that waits for `gate` (announcing itself with `undoing-k`), then the real undo. */
function gatedRollback(k: number): (text: string) => string {
  return (text) =>
    text.replace(
      `  - id: change-${k}\n`,
      `  - id: change-${k}\n    rollback:\n      - run: "touch {{ dir }}/undoing-${k}; until [ -e {{ dir }}/gate ]; do sleep 0.05; done"\n      - file: { path: "{{ dir }}/conf${k}.txt", replace: { from: "setting${k}=new", to: "setting${k}=old" } }\n`,
    );
}

/** Inode and mtime of each config file: equal before and after means the file was never written. */
function touches(sb: Sandbox): Record<string, string> {
  return Object.fromEntries(Object.keys(sb.snapshot()).map((f) => [f, `${statSync(join(sb.dir, f)).ino}@${statSync(join(sb.dir, f)).mtimeMs}`]));
}

/** Makes sb.dir a git checkout whose first `git add` takes 1.5 s (a clean filter: real git machinery), touching in-checkpoint first. */
function slowGitAdd(sb: Sandbox): void {
  execFileSync('git', ['init', '-q', sb.dir]);
  execFileSync('git', ['-C', sb.dir, 'config', 'filter.slow.clean', `sh -c 'touch ${sb.dir}/in-checkpoint; if [ ! -e ${sb.dir}/.git/slow-once ]; then touch ${sb.dir}/.git/slow-once; sleep 1.5; fi; cat'`]);
  writeFileSync(join(sb.dir, '.gitattributes'), '*.slow filter=slow\n');
  writeFileSync(join(sb.dir, 'x.slow'), 'slow\n');
}

function eventTypes(sb: Sandbox): string[] {
  return sb
    .journal()
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { type: string }).type);
}

describe('interrupts during apply', () => {
  it('SIGTERM during verify retries rolls back and exits 130', async () => {
    const sb = fourChanges();
    edit(sb, (t) => t.replace('      - name: fault injection point 2\n', '      - run: "touch {{ dir }}/retrying; false"\n        retries: 100\n        interval: 100ms\n      - name: fault injection point 2\n'));
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'retrying')));
    await new Promise((r) => setTimeout(r, 300));
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code, r.stdout + r.stderr).toBe(130);
    expect(r.stdout).toMatch(/interrupted \(SIGTERM\)/);
    expect(r.stdout).toMatch(/still applied: nothing — the system is as before this run/);
    expect(sb.snapshot()).toEqual(before);
  });

  it('one SIGTERM during the automatic rollback lets it finish: exit 1, every file restored', async () => {
    const sb = fourChanges();
    edit(sb, gatedRollback(1));
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook, '--var', 'fail_at=3']);
    await waitFor(() => existsSync(join(sb.dir, 'undoing-1')));
    run.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(join(sb.dir, 'gate'), '');
    const r = await run.done;
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/rolled back: {2}1\. change-1, 2\. change-2, 3\. change-3\n/);
    expect(r.stdout).toMatch(/still applied: nothing — the system is as before this run/);
    expect(sb.snapshot()).toEqual(before);
  });

  it('two SIGTERMs during the automatic rollback: the running undo step finishes, then it stops with exit 3 naming what is left; runbook rollback finishes it', async () => {
    const sb = fourChanges();
    edit(sb, gatedRollback(1));
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook, '--var', 'fail_at=3']);
    await waitFor(() => existsSync(join(sb.dir, 'undoing-1')));
    run.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    run.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(join(sb.dir, 'gate'), '');
    const r = await run.done;
    expect(r.code, r.stdout + r.stderr).toBe(3);
    expect(r.stdout).toMatch(/SIGTERM: second interrupt: the running rollback step may finish/);
    expect(r.stdout).toMatch(/still applied: 1\. change-1 \(rollback-failed\)\n/);
    expect(r.stdout).toMatch(/runbook rollback /);
    expect(readFileSync(join(sb.dir, 'conf1.txt'), 'utf8')).toBe('setting1=new\nother=keep\n');
    const rb = runCli(['rollback', sb.runbook]);
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    expect(rb.stdout).toMatch(/rolling back change-1 \(runbook rollback\)/);
    expect(sb.snapshot()).toEqual(before);
  });

  it.each([
    ['preflight', 'in-preflight', (sb: Sandbox) => edit(sb, (t) => t.replace('changes:\n', 'preflight:\n  - run: "touch {{ dir }}/in-preflight; sleep 30"\nchanges:\n'))],
    [
      'the checkpoint',
      'in-checkpoint',
      (sb: Sandbox) => {
        slowGitAdd(sb);
        edit(sb, (t) => t.replace('changes:\n', 'checkpoint: { git: { dir: "{{ dir }}", message: "checkpoint" } }\nchanges:\n'));
      },
    ],
  ])('a signal during %s: exit 130, no change started, nothing rolled back, no file written', async (_phase, marker, prepare) => {
    const sb = fourChanges();
    prepare(sb);
    const before = touches(sb);
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, marker)));
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code, r.stdout + r.stderr).toBe(130);
    // The interrupt notice (on stdout when piped) says what it will do; no change started and no rollback ran.
    expect(r.stdout).not.toMatch(/── change|↩ rolling back/);
    expect(r.stdout).toMatch(/still applied: nothing — the system is as before this run/);
    expect(eventTypes(sb)).not.toContain('change.started');
    expect(touches(sb)).toEqual(before);
    expect(runCli(['rollback', sb.runbook]).stdout).toMatch(/nothing to roll back/);
  });

  it('a signal during a step that cannot be cut short (a git commit): it finishes, the next step never starts, exit 130', async () => {
    const sb = fourChanges();
    slowGitAdd(sb);
    edit(sb, (t) =>
      t.replace(
        '  - id: change-1\n',
        '  - id: change-1\n    rollback:\n      - file: { path: "{{ dir }}/conf1.txt", replace: { from: "setting1=new", to: "setting1=old" } }\n',
      ).replace('    apply:\n      - file: { path: "{{ dir }}/conf1.txt"', '    apply:\n      - git: { dir: "{{ dir }}", checkpoint: "before change 1" }\n      - file: { path: "{{ dir }}/conf1.txt"'),
    );
    const before = touches(sb);
    const bytes = sb.snapshot();
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'in-checkpoint')));
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code, r.stdout + r.stderr).toBe(130);
    expect(r.stdout).toMatch(/\[apply 1\/4 change-1 · step 1\] git commit -A in .* … ok /);
    expect(r.stdout).not.toMatch(/\[apply 1\/4 change-1 · step 2\]/);
    expect(touches(sb)).toEqual(before);
    expect(sb.snapshot()).toEqual(bytes);
  });
});

describe('interrupts during runbook rollback', () => {
  for (const [signal, times] of [
    ['SIGINT', 1],
    ['SIGTERM', 1],
    ['SIGINT', 2],
    ['SIGTERM', 2],
  ] as const) {
    const what = times === 1 ? 'lets the running undo step finish, then stops' : 'twice kills the running undo step';
    it(`${signal} ${what}: exit 3 naming what is left; a second runbook rollback finishes`, async () => {
      const sb = fourChanges();
      edit(sb, gatedRollback(1));
      const before = sb.snapshot();
      expect(runCli(['apply', sb.runbook]).code).toBe(0);
      const run = startCli(['rollback', sb.runbook]);
      await waitFor(() => existsSync(join(sb.dir, 'undoing-1')));
      run.child.kill(signal);
      await new Promise((r) => setTimeout(r, 200));
      if (times === 2) run.child.kill(signal);
      else writeFileSync(join(sb.dir, 'gate'), '');
      const r = await run.done;
      expect(r.code, r.stdout + r.stderr).toBe(3);
      expect(r.stderr).toMatch(times === 1 ? new RegExp(`${signal}: interrupted: the running rollback step may finish`) : new RegExp(`${signal}: second interrupt: killing the running rollback step`));
      expect(r.stdout).toMatch(/rolled back: {2}2\. change-2, 3\. change-3, 4\. change-4\n/);
      expect(r.stdout).toMatch(/still applied: 1\. change-1 \(rollback-failed\)\n/);
      expect(readFileSync(join(sb.dir, 'conf1.txt'), 'utf8')).toBe('setting1=new\nother=keep\n');
      writeFileSync(join(sb.dir, 'gate'), '');
      const again = runCli(['rollback', sb.runbook]);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(again.stdout).toMatch(/rolling back change-1 \(runbook rollback\)/);
      expect(again.stdout).toMatch(/still applied: nothing — the system is as before this run/);
      expect(sb.snapshot()).toEqual(before);
    });
  }
});
