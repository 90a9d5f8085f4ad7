import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runPrinted, startCli, waitFor } from '../support/cli.js';
import { backend, holdLockAs, printedState } from '../support/state-backend.js';
import { fourChanges, journalEvents, slowAt, slowStepsLeft } from './fixture.js';

/** Whether a process runs (a zombie, killed and not yet reaped, does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

describe('interrupts', () => {
  it('SIGINT mid-step kills the step, rolls back and exits 130', async () => {
    const sb = slowAt(3);
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'at-3')));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/interrupted/);
    expect(sb.snapshot()).toEqual(before);
    expect(slowStepsLeft(sb.dir)).toBe('');
  });

  it('SIGTERM is handled the same way', async () => {
    const sb = slowAt(1);
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'at-1')));
    run.child.kill('SIGTERM');
    expect((await run.done).code).toBe(130);
    expect(sb.snapshot()).toEqual(before);
  });
});

describe('interrupting a rollback', () => {
  /** Change 1 has a slow undo step (`sleep`), change 3 hangs in apply: the first Ctrl-C rolls back into change 1's slow undo. */
  function slowUndo(seconds: number) {
    const sb = fourChanges();
    writeFileSync(
      sb.runbook,
      readFileSync(sb.runbook, 'utf8')
        .replace('  - id: change-1\n', `  - id: change-1\n    rollback:\n      - run: "touch {{ dir }}/undoing-1; sleep ${seconds}; touch {{ dir }}/undo-step-finished"\n      - file: { path: "{{ dir }}/conf1.txt", replace: { from: "setting1=new", to: "setting1=old" } }\n`)
        .replace('  - id: change-3\n', '  - id: change-3\n    rollback: [ { file: { path: "{{ dir }}/conf3.txt", replace: { from: "setting3=new", to: "setting3=old" } } } ]\n')
        .replace('      - name: fault injection point 3\n', '      - run: "touch {{ dir }}/at-3; sleep 30"\n      - name: fault injection point 3\n'),
    );
    return sb;
  }

  it('a second Ctrl-C lets the running undo step finish, then stops and says what is left; runbook rollback finishes', async () => {
    const sb = slowUndo(2);
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'at-3')));
    run.child.kill('SIGINT');
    await waitFor(() => existsSync(join(sb.dir, 'undoing-1')));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/second interrupt: the running rollback step may finish .* interrupt a third time to kill that step now/);
    expect(existsSync(join(sb.dir, 'undo-step-finished'))).toBe(true);
    expect(r.stdout).toMatch(/still applied: 1\. change-1 \(rollback-failed\)/);
    expect(r.stdout).toMatch(/runbook rollback/);
    const rb = runCli(['rollback', sb.runbook]);
    expect(rb.code).toBe(0);
    expect(rb.stdout).toMatch(/rolling back change-1 \(runbook rollback\)/);
    expect(sb.snapshot()).toEqual(before);
  });

  it('a third Ctrl-C kills the running undo step at once', async () => {
    const sb = slowUndo(30);
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'at-3')));
    run.child.kill('SIGINT');
    await waitFor(() => existsSync(join(sb.dir, 'undoing-1')));
    run.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 300));
    const third = Date.now();
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(3);
    expect(Date.now() - third).toBeLessThan(5_000);
    expect(r.stdout).toMatch(/third interrupt: killing the running rollback step/);
    expect(existsSync(join(sb.dir, 'undo-step-finished'))).toBe(false);
    expect(slowStepsLeft(sb.dir, 'undoing-')).toBe('');
  });

  it('runbook rollback: the first Ctrl-C lets the running undo step finish, then stops', async () => {
    const sb = slowUndo(2);
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('      - run: "touch {{ dir }}/at-3; sleep 30"\n', ''));
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
    const run = startCli(['rollback', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'undoing-1')));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/interrupted: the running rollback step may finish/);
    expect(existsSync(join(sb.dir, 'undo-step-finished'))).toBe(true);
    expect(r.stdout).toMatch(/still applied: 1\. change-1/);
    expect(runCli(['rollback', sb.runbook]).code).toBe(0);
  });
});

describe('an interrupted rollback --to', () => {
  it('says how to finish it with the same --to, and that command stops at that change', async () => {
    const sb = fourChanges();
    writeFileSync(
      sb.runbook,
      readFileSync(sb.runbook, 'utf8').replace('  - id: change-4\n', '  - id: change-4\n    rollback:\n      - run: "touch {{ dir }}/undoing-4; sleep 2"\n      - file: { path: "{{ dir }}/conf4.txt", replace: { from: "setting4=new", to: "setting4=old" } }\n'),
    );
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
    const run = startCli(['rollback', sb.runbook, '--to', 'change-3']);
    await waitFor(() => existsSync(join(sb.dir, 'undoing-4')));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/ROLLBACK STOPPED by an interrupt/);
    const finish = /to finish: (runbook rollback .*?) {3}/.exec(r.stdout)?.[1];
    expect(finish).toBe(`runbook rollback ${sb.runbook} --to change-3${printedState(sb.runbook)}`);
    expect(runPrinted(finish!).code).toBe(0);
    const now = sb.snapshot();
    expect([1, 2, 3, 4].map((i) => now[`conf${i}.txt`]!.split('\n')[0])).toEqual(['setting1=new', 'setting2=new', 'setting3=old', 'setting4=old']);
  });
});

describe('kill -9 of the engine, then runbook rollback', () => {
  it.each([1, 2, 3, 4])('restores the pre-apply bytes when killed inside change %i', async (k) => {
    const sb = slowAt(k);
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'at-k'.replace('k', String(k)))));
    run.child.kill('SIGKILL');
    await run.done;
    // The killed engine's step is still running (its own process group, journaled): the rollback stops it first.
    const orphan = journalEvents(sb).filter((e) => e.type === 'step.process').at(-1)?.pid as number;
    expect(alive(orphan)).toBe(true);
    const stillApplied = [...Array.from({ length: k - 1 }, (_, i) => `change-${i + 1} (verified)`), `change-${k} (applying)`].join(', ');
    const unfinishedMessage = (runId: string, restore: string) => `runbook: run ${runId} did not finish cleanly; still applied: ${stillApplied}.\nRestore first with: ${restore}\n`;
    // No unlock: the holder is provably dead on this host (same host and boot, pid gone), so the next command takes its lock over.
    const lockRecord = backend === 'file' ? (JSON.parse(readFileSync(join(sb.state, 'lock'), 'utf8')) as { since: string }) : undefined;
    const holder = lockRecord ? `pid ${run.child.pid} on ${hostname()} (user ${userInfo().username}, "runbook apply ${sb.runbook}") since ${lockRecord.since}` : '';
    // The file backend says so in one line; in PostgreSQL the server dropped the dead holder's session, and its lock with it.
    const tookOver = backend === 'file' ? `runbook: took over the lock left by ${holder}: pid ${run.child.pid} is gone (same host and boot)\n` : '';
    const restore = `runbook rollback ${sb.runbook}${printedState(sb.runbook)}`;
    const status = runCli(['status', sb.runbook]);
    expect(status.stdout).toMatch(new RegExp(`UNFINISHED: run \\S+ \\(did not finish\\) — restore with: ${escapeRegExp(restore)}\n`));
    expect(status.stdout).not.toMatch(/runbook unlock/);
    if (k % 2 === 0) {
      // apply first: it takes the lock over, then refuses the unfinished run (exit 3) with the one command that continues it.
      const refused = runCli(['apply', sb.runbook]);
      expect(refused.code).toBe(3);
      expect(refused.stderr).toMatch(new RegExp(`^${escapeRegExp(tookOver + unfinishedMessage('RUN', restore)).replace('RUN', '\\S+')}$`));
    }
    const rb = runCli(['rollback', sb.runbook]);
    expect(rb.code).toBe(0);
    // Said once, by the command that took the lock over (a torn-line note may come with it after an unlucky kill).
    const tookOverLines = rb.stderr.split('\n').filter((l) => l.includes('took over the lock')).length;
    expect(tookOverLines).toBe(backend === 'file' && k % 2 === 1 ? 1 : 0);
    if (tookOverLines) expect(rb.stderr).toContain(tookOver);
    expect(rb.stderr).not.toMatch(/unlock/);
    expect(rb.stderr).toMatch(new RegExp(`stopped a step of the dead run \\S+ still running: .*at-${k}.* \\(process group \\d+\\)`));
    expect(alive(orphan)).toBe(false);
    expect(sb.snapshot()).toEqual(before);
    expect(runCli(['rollback', sb.runbook]).stdout).toMatch(/nothing to roll back/);
  });
});

describe('locks', () => {
  it('of two applies started at once, one runs and the other exits 4 naming the holder', async () => {
    const sb = slowAt(1, 5);
    const a = startCli(['apply', sb.runbook]);
    const b = startCli(['apply', sb.runbook]);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    const codes = [ra.code, rb.code].sort();
    expect(codes).toEqual([0, 4]);
    const refused = ra.code === 4 ? ra : rb;
    expect(refused.stderr).toMatch(new RegExp(`locked by another run: pid \\d+ on ${hostname()}`));
  });

  it('a lock left by a dead process is reported stale with the unlock command; unlock refuses a live lock', async () => {
    const sb = fourChanges();
    const stale = await holdLockAs(sb.runbook, { pid: 999999, host: hostname(), user: 'someone', command: 'runbook apply x' });
    const r = runCli(['apply', sb.runbook]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/stale lock: held by pid 999999 .* runbook unlock/);
    await stale.release();
    const live = await holdLockAs(sb.runbook, { pid: process.pid, host: hostname(), user: 'me', command: 'runbook apply x' });
    expect(runCli(['unlock', sb.runbook]).code).toBe(4);
    expect(runCli(['unlock', sb.runbook, '--force']).code).toBe(0);
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
    await live.release();
  });
});

describe('secrets and injection', () => {
  it('a secret never reaches stdout, stderr, --json output or the journal', () => {
    const secret = 'S3cr3t-Value-93x';
    const sb = fourChanges({ secrets: 'secrets: [API_TOKEN]', extraApply: { 1: '      - run: "echo token={{ env.API_TOKEN }}; echo $API_TOKEN >&2"\n' } });
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('  - id: change-1\n', '  - id: change-1\n    rollback: [ { run: "echo undo {{ env.API_TOKEN }}" } ]\n'));
    const env = { API_TOKEN: secret };
    const plain = runCli(['apply', sb.runbook, '--verbose', '--var', 'fail_at=2'], { env });
    expect(plain.code).toBe(1);
    expect(plain.stdout).toContain('token=***');
    const json = runCli(['apply', sb.runbook, '--json'], { env });
    expect(json.code).toBe(0);
    const events = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(events[0]!.type).toBe('run.started');
    expect(events[events.length - 1]!.type).toBe('run.finished');
    const rb = runCli(['rollback', sb.runbook, '--verbose'], { env });
    expect(rb.code).toBe(0);
    for (const text of [plain.stdout, plain.stderr, json.stdout, json.stderr, rb.stdout, rb.stderr, sb.journal()]) expect(text).not.toContain(secret);
    expect(sb.journal()).toContain('{{secret:API_TOKEN}}');
  });

  it('template values with quotes, $(), backticks, ; and newlines never execute', () => {
    const sb = fourChanges({ extraApply: { 1: '      - run: "echo {{ payload }} > {{ dir }}/payload.out"\n' } });
    // --var sets only declared variables: payload gets an empty default.
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('fail_at: "0" }', 'fail_at: "0", payload: "" }').replace('  - id: change-1\n', '  - id: change-1\n    rollback: [ { run: "rm -f {{ dir }}/payload.out" } ]\n'));
    const pwned = join(sb.dir, 'pwned');
    for (const payload of [`x; touch ${pwned}`, `$(touch ${pwned})`, `\`touch ${pwned}\``, `'; touch ${pwned}; '`, `"; touch ${pwned}; "`, `a\ntouch ${pwned}`]) {
      const r = runCli(['apply', sb.runbook, '--var', `payload=${payload}`]);
      expect(r.code).toBe(0);
      expect(existsSync(pwned)).toBe(false);
      expect(readFileSync(join(sb.dir, 'payload.out'), 'utf8')).toBe(`${payload}\n`);
      expect(runCli(['rollback', sb.runbook]).code).toBe(0);
    }
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

