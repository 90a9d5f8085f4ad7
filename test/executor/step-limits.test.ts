import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startCli, waitFor } from '../support/cli.js';
import { lockHolderOf } from '../support/state-backend.js';
import { fourChanges, journalEvents, type Sandbox } from './fixture.js';

/** Inserts `text` (YAML lines) right after the `apply:` of change k. */
function addApply(sb: Sandbox, k: number, text: string): void {
  const marker = `  - id: change-${k}\n`;
  const src = readFileSync(sb.runbook, 'utf8');
  const at = src.indexOf('    apply:\n', src.indexOf(marker)) + '    apply:\n'.length;
  writeFileSync(sb.runbook, src.slice(0, at) + text + src.slice(at));
}

function addRollback(sb: Sandbox, k: number, text: string): void {
  writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace(`  - id: change-${k}\n`, `  - id: change-${k}\n    rollback:\n${text}`));
}

const lockFree = async (sb: Sandbox) => (await lockHolderOf(sb.runbook)) === null;

/** A git checkout with two commits whose prepare-commit-msg hook hangs: `git revert` then hangs inside the git step. */
function repoWithHangingHook(sb: Sandbox, seconds: number): string {
  const repo = join(sb.dir, 'repo');
  mkdirSync(repo);
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@localhost', ...args], { cwd: repo });
  git('init', '-q');
  writeFileSync(join(repo, 'a.txt'), 'one\n');
  git('add', '.');
  git('commit', '-qm', 'one');
  writeFileSync(join(repo, 'a.txt'), 'two\n');
  git('commit', '-qam', 'two');
  writeFileSync(join(repo, '.git', 'hooks', 'prepare-commit-msg'), `#!/bin/sh\ntouch ${sb.dir}/in-hook\nsleep ${seconds}\n`);
  chmodSync(join(repo, '.git', 'hooks', 'prepare-commit-msg'), 0o755);
  return repo;
}

describe('a step that does not end by itself', () => {
  it.each([
    ['a file step on a FIFO', 'pipe.conf', '- file: { path: "{{ dir }}/pipe.conf", line: "x=1" }', /pipe\.conf: it is a FIFO \(named pipe\), not a regular file/],
    ['an env check of a .env file that is a FIFO', 'pipe.env', '- env: { require: [DB_URL], file: "{{ dir }}/pipe.env" }', /cannot read .*pipe\.env: it is a FIFO \(named pipe\), not a regular file/],
  ])('%s fails at once instead of hanging: earlier changes rolled back, lock released, exit 1', async (_what, fifo, step, message) => {
    const sb = fourChanges();
    execFileSync('mkfifo', [join(sb.dir, fifo)]);
    addApply(sb, 2, `      ${step}\n        timeout: 1s\n`);
    const before = sb.snapshot();
    const started = Date.now();
    const run = startCli(['apply', sb.runbook]);
    const killer = setTimeout(() => run.child.kill('SIGKILL'), 20_000);
    const r = await run.done;
    clearTimeout(killer);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.stdout).toMatch(message);
    expect(sb.snapshot()).toEqual(before);
    expect(await lockFree(sb)).toBe(true);
  });

  it('a snapshot taken before a step is bound by the step timeout (a crontab command that hangs)', async () => {
    const sb = fourChanges();
    const bin = join(sb.dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'crontab'), '#!/bin/sh\nexec sleep 20\n');
    chmodSync(join(bin, 'crontab'), 0o755);
    addApply(sb, 2, `      - cron: { id: hang-test, schedule: "0 3 * * *", command: "true" }\n        timeout: 1s\n`);
    const before = sb.snapshot();
    const started = Date.now();
    const r = await startCli(['apply', sb.runbook], { env: { PATH: `${bin}:${process.env.PATH}` } }).done;
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.stdout).toMatch(/cannot snapshot before changing: timed out after 1\.0s/);
    expect(sb.snapshot()).toEqual(before);
    expect(await lockFree(sb)).toBe(true);
  });

  it('a step that ignores its timeout (git revert stuck in a hook) is abandoned: counted failed, rolled back, exit 1', async () => {
    const sb = fourChanges();
    const repo = repoWithHangingHook(sb, 8);
    addApply(sb, 2, `      - git: { dir: "${repo}", revert: HEAD }\n        timeout: 1s\n`);
    addRollback(sb, 2, `      - file: { path: "{{ dir }}/conf2.txt", replace: { from: "setting2=new", to: "setting2=old" } }\n`);
    const before = sb.snapshot();
    const started = Date.now();
    const r = await startCli(['apply', sb.runbook]).done;
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(Date.now() - started).toBeLessThan(7_000);
    expect(r.stdout).toMatch(/timed out after 1\.0s; the step did not stop within 3\.0s of that, so runbook stopped waiting for it/);
    expect(sb.snapshot()).toEqual(before);
    expect(await lockFree(sb)).toBe(true);
    expect(journalEvents(sb).pop()).toMatchObject({ type: 'run.finished', outcome: 'rolled-back', exitCode: 1 });
  });

  it('the same stuck step ends on Ctrl-C: rolled back, exit 130', async () => {
    const sb = fourChanges();
    const repo = repoWithHangingHook(sb, 8);
    addApply(sb, 2, `      - git: { dir: "${repo}", revert: HEAD }\n`);
    addRollback(sb, 2, `      - file: { path: "{{ dir }}/conf2.txt", replace: { from: "setting2=new", to: "setting2=old" } }\n`);
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'in-hook')));
    const interrupted = Date.now();
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stdout + r.stderr).toBe(130);
    expect(Date.now() - interrupted).toBeLessThan(6_000);
    expect(sb.snapshot()).toEqual(before);
    expect(await lockFree(sb)).toBe(true);
  });
});

describe('waits end at once on an interrupt', () => {
  it('Ctrl-C between watch rounds rolls back at once and exits 130 (not "applied and verified")', async () => {
    const sb = fourChanges();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('changes:\n', 'watch: { duration: 8s, interval: 8s }\nchanges:\n'));
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => run.output().includes('watch: re-verifying'));
    await new Promise((r) => setTimeout(r, 1200));
    const interrupted = Date.now();
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(Date.now() - interrupted).toBeLessThan(3_000);
    expect(r.stdout).not.toMatch(/applied and verified \(run/);
    expect(sb.snapshot()).toEqual(before);
  });

  it.each([
    ['a wait step', '      - name: slow\n        wait: 30s\n'],
    ['a verify retry interval', '      - name: slow\n        run: "false"\n        retries: 3\n        interval: 30s\n'],
    ['a settle wait', '      - name: slow\n        run: "true"\n        settle: 30s\n'],
  ])('Ctrl-C during %s rolls back at once and exits 130', async (_what, step) => {
    const sb = fourChanges();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('      - name: fault injection point 2\n', `${step}      - name: fault injection point 2\n`));
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => /verify 2\/4 change-2 · step 1/.test(run.output()));
    await new Promise((r) => setTimeout(r, 300));
    const interrupted = Date.now();
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stdout).toBe(130);
    expect(Date.now() - interrupted).toBeLessThan(3_000);
    expect(sb.snapshot()).toEqual(before);
    expect(runCli(['status', sb.runbook]).stdout).not.toMatch(/UNFINISHED/);
  });
});
