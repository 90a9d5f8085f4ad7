import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { changesRunbook } from '../../bench/generate.js';
import { cliPath, runCli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'runbook-large-output-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'runbook.yaml');
writeFileSync(file, changesRunbook(1000));

describe('output larger than a pipe holds (64 KB)', () => {
  it('plan --format json into a pipe arrives whole: the reader gets every byte, not the first 65,536', () => {
    const r = runCli(['plan', file, '--format', 'json']);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(500_000);
    expect((JSON.parse(r.stdout) as { changes: unknown[] }).changes).toHaveLength(1000);
  });

  it('the plan table into a slow reader arrives whole too', () => {
    const r = spawnSync('sh', ['-c', `"$0" "$1" plan "$2" | { sleep 0.3; wc -l; }`, process.execPath, cliPath, file], { encoding: 'utf8' });
    expect(Number(r.stdout.trim())).toBeGreaterThan(1000);
  });

  it('a reader that stops early (| head) ends the CLI quietly: no stack trace', () => {
    const r = spawnSync('sh', ['-c', `"$0" "$1" plan "$2" --format json | head -c 100 > /dev/null; echo "exit \${PIPESTATUS:-done}"`, process.execPath, cliPath, file], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/EPIPE|at .*\(.*:\d+:\d+\)/);
  });

  it('an apply whose reader left after a few bytes goes on to its end: every step runs and the run is journaled applied', () => {
    const work = mkdtempSync(join(dir, 'apply-'));
    const runbook = join(work, 'runbook.yaml');
    writeFileSync(runbook, `runbook: 1\nname: reader-left\nchanges:\n  - id: one\n    title: One\n    risk: 1\n    apply:\n      - run: "sleep 0.5"\n      - run: "touch ${work}/done"\n    rollback:\n      - run: "true"\n`);
    const r = spawnSync('sh', ['-c', `CI=1 "$0" "$1" apply "$2" --yes --state-dir "$3" | head -c 5 > /dev/null`, process.execPath, cliPath, runbook, join(work, 'state')], { encoding: 'utf8', timeout: 30_000 });
    // The shell waits for every command of the pipeline: the CLI has ended here.
    expect(r.stderr).toBe('');
    expect(existsSync(join(work, 'done'))).toBe(true);
    expect(runCli(['status', runbook, '--state-dir', join(work, 'state')]).stdout).toMatch(/applied: 1\. one — applied/);
  });
});
