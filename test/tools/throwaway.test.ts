import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli.js';

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
