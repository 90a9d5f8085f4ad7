import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, waitFor } from '../support/cli.js';
import { holdLockAs, lockHolderOf } from '../support/state-backend.js';
import { startInTerminal } from '../support/terminal.js';
import { fourChanges, type Sandbox } from './fixture.js';

/** change-2 at risk 4 (needs a confirmation: confirmFrom 3), change-3 at risk 8 (above maxRisk 5). */
function risky(): Sandbox {
  const sb = fourChanges();
  writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('risk: 2', 'risk: 4').replace(/(id: change-3\n {4}title: Change 3\n {4}risk: )0/, '$18'));
  return sb;
}

/** Waits for the run to end; should it ask a question first, answers "y" (the refusal must come before any question). */
async function answerIfAsked(run: ReturnType<typeof startInTerminal>) {
  let over = false;
  const asked = waitFor(() => over || run.screen().includes('[y/N]'), 15_000).then(() => void (over || run.type('y\r')));
  const r = await run.done;
  over = true;
  await asked;
  return r;
}

/** The runbook's lock held by another run (pid `pid`), as the leg's backend holds one. */
function lockHeldBy(sb: Sandbox, pid: number) {
  return holdLockAs(sb.runbook, { pid, host: hostname(), user: 'someone', command: 'runbook apply x' });
}

/** Leaves an unfinished run: onFailure stop with change 3 failing (changes 1–3 stay applied). */
function unfinishedRun(sb: Sandbox): void {
  writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('onFailure: rollback-all', 'onFailure: stop'));
  expect(runCli(['apply', sb.runbook, '--var', 'fail_at=3', '--yes', '--accept-risk']).code).toBe(1);
}

describe('--only and --from', () => {
  it('together are a usage error, nothing applied', () => {
    const sb = fourChanges();
    const r = runCli(['apply', sb.runbook, '--only', 'change-2', '--from', 'change-3']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--only and --from cannot be used together/);
    expect(Object.values(sb.snapshot()).every((t) => t.includes('=old'))).toBe(true);
  });
});

describe('--dry-run', () => {
  it('previews a high-risk runbook without --accept-risk or --yes and says what the real apply will need', () => {
    const sb = risky();
    const r = runCli(['apply', sb.runbook, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/will run\s+apply\s+replace in .*conf3\.txt/);
    expect(r.stdout).toMatch(/the real apply will need: a confirmation \(or --yes\) for 2\. change-2 \(risk 4\/10\), 3\. change-3 \(risk 8\/10\) \(risk ≥ 3\) and --accept-risk for change-3 \(risk 8\) \(above policy maxRisk 5\)/);
    expect(r.stdout).toMatch(/the real apply can start/);
  });

  it('reports a lock held by another run (exit 4) without taking or touching it', async () => {
    const sb = fourChanges();
    const lock = await lockHeldBy(sb, process.pid);
    const held = await lockHolderOf(sb.runbook);
    expect(held?.holder).toMatchObject({ pid: process.pid, command: 'runbook apply x' });
    const r = runCli(['apply', sb.runbook, '--dry-run']);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/the real apply would be refused now \(exit 4\):\nlocked by another run: pid \d+/);
    expect(await lockHolderOf(sb.runbook)).toEqual(held);
    await lock.release();
  });

  it('reports an unfinished run (exit 3) with the command that restores it', async () => {
    const sb = risky();
    unfinishedRun(sb);
    const r = runCli(['apply', sb.runbook, '--dry-run']);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/the real apply would be refused now \(exit 3\):\nrun \S+ did not finish cleanly; still applied: change-1 \(verified\), change-2 \(verified\), change-3 \(failed\)\.\nRestore first with: runbook rollback /);
    expect(await lockHolderOf(sb.runbook)).toBeNull();
  });

  it('with --json prints only NDJSON: preflight events, each step, then a summary', () => {
    const sb = risky();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('changes:\n', 'preflight:\n  - which: [bash]\nchanges:\n'));
    const r = runCli(['apply', sb.runbook, '--dry-run', '--json']);
    expect(r.code).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
    expect(events.map((e) => e.type)).toContain('preflight.finished');
    expect(events.filter((e) => e.type === 'dry-run.step')).toHaveLength(4 + 8);
    expect(events.pop()).toMatchObject({ type: 'dry-run.finished', exitCode: 0, preflightOk: true, needs: { acceptRisk: ['change-3 (risk 8)'] }, lock: null, unfinished: [] });
  });
});

describe('the confirmation question comes after the lock and unfinished-run checks', () => {
  it('a locked state is refused (exit 4) before asking anything', async () => {
    const sb = fourChanges();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('risk: 2', 'risk: 4'));
    const lock = await lockHeldBy(sb, process.pid);
    const run = startInTerminal(['apply', sb.runbook]);
    const r = await answerIfAsked(run);
    await lock.release();
    expect(r.code).toBe(4);
    expect(r.screen).not.toMatch(/\[y\/N\]/);
    expect(r.screen).toMatch(/locked by another run/);
  });

  it('an unfinished run is refused (exit 3) before asking anything', async () => {
    const sb = risky();
    unfinishedRun(sb);
    const run = startInTerminal(['apply', sb.runbook, '--accept-risk']);
    const r = await answerIfAsked(run);
    expect(r.code).toBe(3);
    expect(r.screen).not.toMatch(/\[y\/N\]/);
    expect(r.screen).toMatch(/did not finish cleanly/);
  });

  it('otherwise the question is asked: "n" changes nothing, then "y" applies', async () => {
    const sb = fourChanges();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('risk: 2', 'risk: 4'));
    for (const [answer, code] of [['n', 1], ['y', 0]] as const) {
      const run = startInTerminal(['apply', sb.runbook]);
      await waitFor(() => run.screen().includes('[y/N]'));
      run.type(`${answer}\r`);
      const r = await run.done;
      expect(r.code, r.screen).toBe(code);
      expect(sb.snapshot()['conf1.txt']).toContain(answer === 'y' ? '=new' : '=old');
      expect(await lockHolderOf(sb.runbook)).toBeNull();
    }
  });
});

describe('a program the steps need is missing', () => {
  it('preflight names it (crontab for a cron step) and nothing changes, not even the earlier steps of that change', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-no-crontab-'));
    // A PATH with the shell and nothing else: crontab is not on it, as on a machine without the cron package.
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    for (const tool of ['bash', 'sh']) symlinkSync(`/bin/${tool}`, join(bin, tool));
    const runbook = join(dir, 'runbook.yaml');
    writeFileSync(
      runbook,
      `runbook: 1
name: nightly
changes:
  - id: nightly-job
    title: A nightly job
    risk: 0
    apply:
      - file: { path: job.sh, content: "#!/bin/sh\\ntrue\\n", mode: "0755" }
      - cron: { id: nightly-job, schedule: "0 3 * * *", command: "${dir}/job.sh" }
`,
    );
    const r = runCli(['apply', runbook, '--yes'], { env: { PATH: bin } });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/Programs the steps need: crontab \(nightly-job\).*not found on PATH: crontab/s);
    expect(existsSync(join(dir, 'job.sh'))).toBe(false);
  });
});
