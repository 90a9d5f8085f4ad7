import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliPath, runCli, startCli, waitFor } from '../support/cli.js';
import { backendArgs, lockHolderOf } from '../support/state-backend.js';
import { startInTerminal } from '../support/terminal.js';
import { journalEvents, slowAt, slowStepsLeft, type Sandbox } from './fixture.js';

function lastRunFinished(sb: Sandbox) {
  return journalEvents(sb).filter((e) => e.type === 'run.finished').pop() as { outcome: string; exitCode: number } | undefined;
}

/** `runbook <args> | head -<lines>` in bash (with the leg's state backend): the CLI's exit code, what head printed, the CLI's stderr. */
function piped(args: string[], lines: number, opts: { stderrToo?: boolean } = {}) {
  const { extra, call } = backendArgs(args);
  const cli = [process.execPath, cliPath, ...args, ...extra].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const script = opts.stderrToo ? `${cli} 2>&1 | head -${lines}; echo "rc=\${PIPESTATUS[0]}" >&2` : `${cli} 2>"$ERR" | head -${lines}; echo "rc=\${PIPESTATUS[0]}" >>"$ERR"`;
  const err = join(mkdtempSync(join(tmpdir(), 'runbook-pipe-')), 'stderr');
  writeFileSync(err, '');
  const r = spawnSync('bash', ['-c', script], { env: { ...process.env, CI: '1', ERR: err }, encoding: 'utf8', timeout: 60_000 });
  const stderr = opts.stderrToo ? r.stderr : readFileSync(err, 'utf8');
  const code = Number(/rc=(\d+)/.exec(stderr)?.[1]);
  if (call) call.code = code;
  return { code, stdout: r.stdout, stderr: stderr.replace(/rc=\d+\n$/, '') };
}

/** Four changes with a short pause in change 1, so `head` has surely gone by the time more is written. */
const withPause = () => slowAt(1, 0.3);

describe('Ctrl-C on a terminal (listr2 progress)', () => {
  it('kills the running step, rolls back, releases the lock and exits 130 — as without a terminal', async () => {
    const sb = slowAt(2);
    const before = sb.snapshot();
    const run = startInTerminal(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'at-2')));
    run.ctrlC();
    const r = await run.done;
    expect(r.code, r.screen).toBe(130);
    expect(sb.snapshot()).toEqual(before);
    expect(slowStepsLeft(sb.dir)).toBe('');
    expect(await lockHolderOf(sb.runbook)).toBeNull();
    expect(lastRunFinished(sb)).toMatchObject({ outcome: 'interrupted', exitCode: 130 });
    expect(runCli(['status', sb.runbook]).stdout).not.toMatch(/UNFINISHED/);
  });
});

describe('the terminal goes away (ssh dropped): SIGHUP', () => {
  it('is handled like SIGTERM: step killed, rolled back, exit 130', async () => {
    const sb = slowAt(2);
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'at-2')));
    run.child.kill('SIGHUP');
    expect((await run.done).code).toBe(130);
    expect(sb.snapshot()).toEqual(before);
    expect(slowStepsLeft(sb.dir)).toBe('');
    expect(await lockHolderOf(sb.runbook)).toBeNull();
  });

  it('when the terminal itself is gone, writing to it cannot stop the rollback: files restored, lock released, run journaled', async () => {
    const sb = slowAt(2);
    const before = sb.snapshot();
    const run = startInTerminal(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'at-2')));
    run.child.kill('SIGKILL'); // the terminal emulator dies: the kernel hangs up the terminal
    await waitFor(async () => lastRunFinished(sb) !== undefined && (await lockHolderOf(sb.runbook)) === null, 20_000);
    expect(lastRunFinished(sb)).toMatchObject({ outcome: 'interrupted', exitCode: 130 });
    expect(sb.snapshot()).toEqual(before);
    await waitFor(() => slowStepsLeft(sb.dir) === '', 5_000);
  });
});

describe('a reader that goes away (| head, less quit, a --json consumer exiting)', () => {
  it('apply | head -2 still applies everything, journals it and exits 0, with no stack trace', async () => {
    const sb = withPause();
    const r = piped(['apply', sb.runbook], 2);
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(2);
    expect(r.stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
    expect(r.code).toBe(0);
    expect(Object.values(sb.snapshot()).every((t) => t.includes('=new'))).toBe(true);
    expect(lastRunFinished(sb)).toMatchObject({ outcome: 'applied', exitCode: 0 });
    expect(await lockHolderOf(sb.runbook)).toBeNull();
  });

  it('a failing apply | head -2 still rolls back and exits 1; with 2>&1 too', async () => {
    for (const stderrToo of [false, true]) {
      const sb = withPause();
      const before = sb.snapshot();
      const r = piped(['apply', sb.runbook, '--var', 'fail_at=3'], 2, { stderrToo });
      expect(r.stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
      expect(r.code).toBe(1);
      expect(sb.snapshot()).toEqual(before);
      expect(lastRunFinished(sb)).toMatchObject({ outcome: 'rolled-back', exitCode: 1 });
      expect(await lockHolderOf(sb.runbook)).toBeNull();
    }
  });

  it('apply --json | head -1 finishes the run and exits 0', () => {
    const sb = withPause();
    const r = piped(['apply', sb.runbook, '--json'], 1);
    expect(JSON.parse(r.stdout)).toMatchObject({ type: 'run.started' });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/EPIPE/);
    expect(lastRunFinished(sb)).toMatchObject({ outcome: 'applied' });
  });

  it('rollback | head -3 restores every file and exits 0', async () => {
    const sb = withPause();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('    rollback:\n', '    rollback:\n      - run: "sleep 0.3"\n'));
    const before = sb.snapshot();
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
    const r = piped(['rollback', sb.runbook], 3);
    expect(r.stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
    expect(r.code).toBe(0);
    expect(sb.snapshot()).toEqual(before);
    expect(await lockHolderOf(sb.runbook)).toBeNull();
  });

  it('plan of a 3000-change runbook | head -2 exits quietly, as table and as JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-bigplan-'));
    const changes = Array.from({ length: 3000 }, (_, i) => `  - id: c${i}\n    title: Change ${i}\n    risk: 0\n    apply: [ { run: "true" } ]\n    rollback: [ { run: "true" } ]\n`).join('');
    const file = join(dir, 'big.yaml');
    writeFileSync(file, `runbook: 1\nname: big\ntitle: Big\nchanges:\n${changes}`);
    for (const format of ['table', 'json', 'markdown']) {
      const r = piped(['plan', file, '--format', format], 2);
      expect(r.stdout.split('\n').filter(Boolean).length, format).toBeLessThanOrEqual(2);
      expect(r.stderr, format).toBe('');
      expect(r.code, format).toBe(0);
    }
  });
});
