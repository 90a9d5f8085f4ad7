import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli.js';
import { withCrontab } from '../support/crontab.js';

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

/** A test process that takes the crontab lock, puts a marker line in the machine's crontab, and waits to be killed. */
function crontabChanger(marker: string) {
  const script = `import { spawnSync } from 'node:child_process';
import { withCrontab } from ${JSON.stringify(join(repoRoot, 'test', 'support', 'crontab.ts'))};
await withCrontab(async () => {
  spawnSync('crontab', ['-'], { input: '0 3 * * * true # ${marker}\\n' });
  process.stdout.write('changed\\n');
  await new Promise(() => {});
});`;
  const child = spawn(process.execPath, [...withTsx, script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  const changed = new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('changed') && resolve()));
  const ended = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { child, changed, ended };
}

const crontabHas = (marker: string) => spawnSync('crontab', ['-l'], { encoding: 'utf8' }).stdout.includes(marker);

describe("a test that changed the machine's crontab puts it back however it ends", () => {
  it('stopped by SIGTERM, it restores the crontab before it dies', async () => {
    const marker = `runbook-test-marker-${process.pid}-term`;
    const test = crontabChanger(marker);
    await test.changed;
    expect(crontabHas(marker)).toBe(true);
    test.child.kill('SIGTERM');
    await test.ended;
    expect(crontabHas(marker)).toBe(false);
  });

  it('killed with SIGKILL, the next test that takes the lock restores it from what the dead one saved', async () => {
    const marker = `runbook-test-marker-${process.pid}-kill`;
    const test = crontabChanger(marker);
    await test.changed;
    test.child.kill('SIGKILL');
    await test.ended;
    expect(crontabHas(marker)).toBe(true);
    await withCrontab(() => undefined);
    expect(crontabHas(marker)).toBe(false);
  });
});
