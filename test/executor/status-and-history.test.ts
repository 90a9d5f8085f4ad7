import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runPrinted, startCli, waitFor } from '../support/cli.js';
import { holdLockAs, printedState } from '../support/state-backend.js';
import { fourChanges, slowAt } from './fixture.js';

describe('status: every printed command is the one to run', () => {
  it('keeps --state-dir and --vars-file in the unlock and rollback hints, and those commands work', async () => {
    const sb = slowAt(2);
    const stateDir = join(sb.dir, 'elsewhere state');
    const varsFile = join(sb.dir, 'vars.yaml');
    writeFileSync(varsFile, 'fail_at: "0"\n');
    const opts = ['--state-dir', stateDir, '--vars-file', varsFile];
    // A crashed apply (change 1 applied) and a stale lock: a holder whose process is gone. The
    // file backend keeps the dead apply's lock file; PostgreSQL frees a dead session's lock, so
    // the stale lock is made the same way for both.
    const run = startCli(['apply', sb.runbook, ...opts]);
    await waitFor(() => existsSync(join(sb.dir, 'at-2')));
    run.child.kill('SIGKILL');
    await run.done;
    spawnSync('pkill', ['-f', `${sb.dir}/at-2`]);
    const stale = await holdLockAs(sb.runbook, { pid: 999999, host: hostname(), user: 'someone', command: 'runbook apply x' }, { stateDir });
    const status = runCli(['status', sb.runbook, ...opts]);
    const unlock = /clear with: (.*)/.exec(status.stdout)?.[1];
    expect(unlock).toBe(`runbook unlock ${sb.runbook} --state-dir '${stateDir}'${printedState(sb.runbook)}`);
    expect(runPrinted(unlock!).code).toBe(0);
    await stale.release();
    const again = runCli(['status', sb.runbook, ...opts]);
    expect(again.stdout).toMatch(/lock: free/);
    const rollback = /UNFINISHED: .* restore with: (.*)/.exec(again.stdout)?.[1];
    expect(rollback).toBe(`runbook rollback ${sb.runbook} --state-dir '${stateDir}'${printedState(sb.runbook)} --vars-file ${varsFile}`);
    expect(runPrinted(rollback!).code).toBe(0);
    expect(Object.values(sb.snapshot()).every((t) => t.includes('=old'))).toBe(true);
  });

  it('during a live apply says the run is in progress and who holds the lock, not "UNFINISHED … restore"', async () => {
    const sb = slowAt(2);
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'at-2')));
    const status = runCli(['status', sb.runbook]);
    run.child.kill('SIGINT');
    await run.done;
    expect(status.stdout).toMatch(new RegExp(`IN PROGRESS: run \\S+ — pid ${run.child.pid} on ${hostname()} .* holds the lock`));
    expect(status.stdout).not.toMatch(/UNFINISHED|restore with/);
  });
});

describe('history and rollback --to', () => {
  it('with several runs, status, history, rollback and apply write nothing to stderr', () => {
    const sb = fourChanges();
    for (const id of ['change-1', 'change-2', 'change-3']) expect(runCli(['apply', sb.runbook, '--only', id]).code).toBe(0);
    for (const args of [['status'], ['history'], ['history', '--json'], ['rollback'], ['apply', '--only', 'change-3']]) {
      const r = runCli([args[0]!, sb.runbook, ...args.slice(1)]);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stderr, args.join(' ')).toBe('');
    }
  });

  it('history keeps how the apply ended and shows what a later rollback --to undid', () => {
    const sb = fourChanges();
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
    expect(runCli(['rollback', sb.runbook, '--to', 'change-3']).code).toBe(0);
    const history = runCli(['history', sb.runbook]).stdout;
    expect(history).toMatch(/\s applied\s+change-1:verified change-2:verified change-3:rolled-back change-4:rolled-back\n/);
    expect(history).toMatch(/\n {4}then \S+ {2}runbook rollback: rolled back change-4, change-3\n/);
    const json = JSON.parse(runCli(['history', sb.runbook, '--json']).stdout) as { applyOutcome: string; laterRollbacks: { undone: string[]; outcome: string }[] }[];
    expect(json[0]).toMatchObject({ applyOutcome: 'applied', laterRollbacks: [{ undone: ['change-4', 'change-3'], outcome: 'rolled-back' }] });
  });

  it('rollback --to a change already rolled back is a no-op (exit 0), not a usage error', () => {
    const sb = fourChanges();
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
    expect(runCli(['rollback', sb.runbook, '--to', 'change-3']).code).toBe(0);
    const again = runCli(['rollback', sb.runbook, '--to', 'change-3']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/nothing to roll back in run \S+: change-3 and later are not applied/);
    expect(runCli(['rollback', sb.runbook, '--to', 'change-4']).code).toBe(0);
    const unknown = runCli(['rollback', sb.runbook, '--to', 'no-such-change']);
    expect(unknown.code).toBe(2);
    expect(sb.snapshot()['conf2.txt']).toContain('setting2=new');
  });

  it('rollback --json with nothing to undo prints only NDJSON on stdout', () => {
    const sb = fourChanges();
    for (const setup of [() => undefined, () => runCli(['apply', sb.runbook]) && runCli(['rollback', sb.runbook])]) {
      setup();
      const r = runCli(['rollback', sb.runbook, '--json']);
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'rollback.nothing', message: 'no change is applied' });
    }
  });
});

describe('the report says what the policy did', () => {
  it('onFailure: rollback-change: the headline says only the failed change was rolled back', () => {
    const sb = fourChanges({ onFailure: 'rollback-change' });
    const r = runCli(['apply', sb.runbook, '--var', 'fail_at=2']);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/everything this run applied was rolled back/);
    expect(r.stdout).toMatch(/a change failed; it was rolled back as the policy says \(onFailure: rollback-change\) — the changes applied before it stay applied/);
    expect(r.stdout).toMatch(/still applied: 1\. change-1 \(verified\)/);
    expect(sb.snapshot()['conf2.txt']).toContain('setting2=old');
  });

  it('a change with no verify steps is "applied (no verify steps)", never "verified", in the output, the report and status', () => {
    const sb = fourChanges();
    const text = readFileSync(sb.runbook, 'utf8');
    const start = text.indexOf('  - id: change-3\n');
    const verify = text.indexOf('    verify:\n', start);
    const end = text.indexOf('  - id: change-4\n');
    writeFileSync(sb.runbook, text.slice(0, verify) + text.slice(end));
    const r = runCli(['apply', sb.runbook]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/✔ change-3 applied \(no verify steps\) in/);
    expect(r.stdout).toMatch(/✔ change-2 applied and verified in/);
    expect(r.stdout).toMatch(/✅ all changes applied; verified all but change-3 \(no verify steps\)/);
    expect(r.stdout).not.toMatch(/all changes applied and verified/);
    expect(runCli(['status', sb.runbook]).stdout).toMatch(/applied: 3\. change-3 — applied \(no verify steps\)/);
  });
});

describe('lock left by a dead process', () => {
  it('status names the stale lock and the exact unlock command', async () => {
    const sb = fourChanges();
    const stale = await holdLockAs(sb.runbook, { pid: 999999, host: hostname(), user: 'someone', command: 'runbook apply x' });
    const status = runCli(['status', sb.runbook]).stdout;
    await stale.release();
    expect(status).toContain(`lock: STALE — held by pid 999999`);
    expect(status).toContain(`clear with: runbook unlock ${sb.runbook}${printedState(sb.runbook)}\n`);
  });
});
