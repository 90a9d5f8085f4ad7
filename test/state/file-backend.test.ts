/**
 * What only the file state backend can run into: its journal files and lock file changed by
 * something else, and a --state-dir that cannot be a directory. Outside the executor suite's
 * postgres-state leg on purpose (vitest.config.ts): PostgreSQL commits whole events and frees
 * a dead holder's lock with its session; its own failure modes are in postgres-*.test.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fourChanges, slowAt } from '../executor/fixture.js';
import { runCli, startCli, waitFor } from '../support/cli.js';

describe('kill -9 while a journal event was being written', () => {
  it('a torn last journal line is ignored and said so; nothing before it is lost', async () => {
    const sb = slowAt(2);
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'at-2')));
    run.child.kill('SIGKILL');
    await run.done;
    spawnSync('pkill', ['-f', `${sb.dir}/at-2`]);
    const runs = join(sb.state, 'runs');
    appendFileSync(join(runs, readdirSync(runs)[0]!), '{"type":"step.started","phase":"apply","chan');
    runCli(['unlock', sb.runbook]);
    const rb = runCli(['rollback', sb.runbook]);
    expect(rb.code).toBe(0);
    expect(rb.stderr).toMatch(/torn line/);
    expect(sb.snapshot()).toEqual(before);
  });
});

describe('a lock holder that was killed but not yet reaped (a zombie)', () => {
  it('counts as gone: status says STALE, apply names the stale lock and the unlock command', async () => {
    // perl (perl-base is essential on Debian) forks a child that exits at once and never waits for it: a zombie.
    const parent = spawn('perl', ['-e', '$| = 1; my $pid = fork; exit 0 unless $pid; print "$pid\\n"; sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = await new Promise<number>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
      await waitFor(() => readFileSync(`/proc/${pid}/stat`, 'latin1').includes(') Z '));
      const sb = fourChanges();
      mkdirSync(sb.state, { recursive: true });
      writeFileSync(join(sb.state, 'lock'), JSON.stringify({ pid, host: hostname(), user: 'someone', command: 'runbook apply x', since: '2026-01-01T00:00:00Z' }));
      expect(runCli(['status', sb.runbook]).stdout).toContain(`lock: STALE — held by pid ${pid}`);
      const apply = runCli(['apply', sb.runbook]);
      expect(apply.code).toBe(4);
      expect(apply.stderr).toContain(`but that process is gone. Check nothing is running, then clear it with: runbook unlock ${sb.runbook}`);
    } finally {
      parent.kill('SIGKILL');
    }
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
    // One rollback (no --run) goes down the runs newest first: the newer one is undone, the damaged one is refused.
    const first = runCli(['rollback', sb.runbook]);
    expect(first.code).toBe(3);
    expect(sb.snapshot()['conf2.txt']).toContain('setting2=old');
    expect(first.stderr).toMatch(/Nothing of run \S+ or older runs was rolled back/);
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

describe('a journal that cannot be read, and a run id that is no file name', () => {
  it('a journal that cannot be read is said with its path (exit 3), not taken for a missing run; nothing is undone', () => {
    const sb = fourChanges();
    expect(runCli(['apply', sb.runbook, '--only', 'change-1']).code).toBe(0);
    const unreadable = '20991231T000000.000Z-dead';
    const path = join(sb.state, 'runs', `${unreadable}.jsonl`);
    mkdirSync(path);
    for (const args of [['rollback', sb.runbook, '--run', unreadable], ['rollback', sb.runbook], ['status', sb.runbook]]) {
      const r = runCli(args);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stderr).toContain(`cannot read the journal of run ${unreadable} (${path}): EISDIR`);
      expect(r.stderr).not.toMatch(/internal error|no run/);
    }
    expect(sb.snapshot()['conf1.txt']).toContain('setting1=new');
  });

  it('rollback --run with a path in the id finds no run (exit 2) and reads nothing outside the runs directory', () => {
    const sb = fourChanges();
    expect(runCli(['apply', sb.runbook, '--only', 'change-1']).code).toBe(0);
    const [journal] = readdirSync(join(sb.state, 'runs'));
    writeFileSync(join(sb.dir, 'outside.jsonl'), readFileSync(join(sb.state, 'runs', journal!)));
    const r = runCli(['rollback', sb.runbook, '--run', '../../outside']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no run "../../outside" of environment default in ');
    expect(sb.snapshot()['conf1.txt']).toContain('setting1=new');
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
