import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli.js';
import { crontabText, withCrontab } from '../support/crontab.js';

/** TypeScript run in this very process (tsx as a loader, not its CLI, which would start a second one). */
const withTsx = ['--import', 'tsx', '--input-type=module', '-e'];

/** A process that starts a throwaway cluster, prints its data dir and postmaster pid, and waits to be killed. */
function clusterOwner() {
  const script = `import { startCluster } from ${JSON.stringify(join(repoRoot, 'tools', 'pg-cluster.ts'))};
import { readFileSync } from 'node:fs';
const c = await startCluster();
const pid = readFileSync(c.dataDir + '/postmaster.pid', 'utf8').split('\\n')[0];
process.stdout.write(JSON.stringify({ dataDir: c.dataDir, pid: Number(pid) }) + '\\n');
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, [...withTsx, script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  const started = new Promise<{ dataDir: string; pid: number }>((resolve) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(JSON.parse(out) as { dataDir: string; pid: number });
    });
  });
  const ended = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { child, started, ended };
}

function postmasterRuns(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return false;
  }
}

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

describe('throwaway PostgreSQL clusters never outlive their owner', () => {
  it('an owner stopped by SIGTERM (timeout, CI cancelling) stops its cluster and removes its data first', async () => {
    const owner = clusterOwner();
    const { dataDir, pid } = await owner.started;
    expect(postmasterRuns(pid)).toBe(true);
    owner.child.kill('SIGTERM');
    await owner.ended;
    await until(() => !postmasterRuns(pid));
    expect(postmasterRuns(pid)).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('a cluster whose owner was killed with SIGKILL is stopped by its recorded pid and removed by the next process that starts one', async () => {
    const owner = clusterOwner();
    const { dataDir, pid } = await owner.started;
    owner.child.kill('SIGKILL');
    await owner.ended;
    expect(postmasterRuns(pid)).toBe(true);
    const next = spawnSync(process.execPath, [...withTsx, `import { sweepLeftovers } from ${JSON.stringify(join(repoRoot, 'tools', 'throwaway.ts'))}; sweepLeftovers();`], { cwd: repoRoot, encoding: 'utf8' });
    expect(next.stderr).toMatch(new RegExp(`removed a throwaway PostgreSQL cluster left by process ${owner.child.pid}, which is gone`));
    await until(() => !postmasterRuns(pid));
    expect(postmasterRuns(pid)).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
  });
});

/** A test process that writes a marker line into its crontab, prints its private cron spool, and waits to be killed. */
function crontabChanger(marker: string) {
  const script = `import { spawnSync } from 'node:child_process';
import { privateCronSpool, withCrontab } from ${JSON.stringify(join(repoRoot, 'test', 'support', 'crontab.ts'))};
await withCrontab(async () => {
  spawnSync('crontab', ['-'], { input: '0 3 * * * true # ${marker}\\n' });
  process.stdout.write(privateCronSpool() + '\\n');
  await new Promise(() => {});
});`;
  const child = spawn(process.execPath, [...withTsx, script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  const spool = new Promise<string>((resolve) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
  });
  const ended = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { child, spool, ended };
}

/** The machine's own crontab, read with the real crontab (not a test process's private one). */
const machineCrontab = () => spawnSync('/bin/sh', ['-c', 'PATH=/usr/bin:/bin crontab -l 2>/dev/null'], { encoding: 'utf8' }).stdout;
const sweepOnce = () => spawnSync(process.execPath, [...withTsx, `import { sweepLeftovers } from ${JSON.stringify(join(repoRoot, 'tools', 'throwaway.ts'))}; sweepLeftovers();`], { cwd: repoRoot, encoding: 'utf8' });

describe("a test's crontab is its own, and never the machine's", () => {
  it("what a test process writes is in its private spool only: not in the machine's crontab, not in another test process's", async () => {
    const machineBefore = machineCrontab();
    const marker = `runbook-test-marker-${process.pid}-own`;
    const test = crontabChanger(marker);
    const spool = await test.spool;
    expect(readFileSync(join(spool, 'root'), 'utf8')).toContain(marker);
    expect(machineCrontab()).toBe(machineBefore);
    await withCrontab(() => expect(crontabText().text).not.toContain(marker));
    test.child.kill('SIGTERM');
    await test.ended;
    await until(() => !existsSync(spool));
    expect(existsSync(spool)).toBe(false);
  });

  it('killed with SIGKILL, its private spool is removed by the next test process, and the machine crontab never changed', async () => {
    const machineBefore = machineCrontab();
    const marker = `runbook-test-marker-${process.pid}-kill`;
    const test = crontabChanger(marker);
    const spool = await test.spool;
    test.child.kill('SIGKILL');
    await test.ended;
    expect(existsSync(spool)).toBe(true);
    expect(sweepOnce().stderr).toMatch(new RegExp(`a private cron spool left by process ${test.child.pid}`));
    expect(existsSync(spool)).toBe(false);
    expect(machineCrontab()).toBe(machineBefore);
  });
});
