/**
 * A git checkpoint through the git step, here and on a host, side by side in one run: N cycles
 * of what a change with a `checkpoint` step does — the inverse (HEAD, index and tree read, the
 * tree written to the object store), the commit, then the undo — on a checkout with the same
 * work in progress, through the local target and through the ssh target (interleaved, so both
 * see the same machine load). Also how many processes (here) or sessions (on the host) a cycle
 * starts.
 *
 *   npx tsx bench/git-on-host.ts [N=10]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectHost } from '../src/run/remote/ssh-target.js';
import type { StepContext } from '../src/steps/contract.js';
import { gitStep, type GitParams } from '../src/steps/git.js';
import { localTarget } from '../src/steps/kit/local-target.js';
import type { Target } from '../src/steps/kit/target.js';
import { startSshHosts } from '../tools/ssh-hosts.js';

const runs = Number(process.argv[2] ?? 10);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A checkout with 200 tracked files, a staged change, an unstaged one and an untracked file. */
const SEED = (dir: string) =>
  [
    `rm -rf ${dir} && mkdir -p ${dir}/src && cd ${dir} && git init -q -b main`,
    'for i in $(seq 1 200); do echo "line $i" > src/f$i.txt; done && printf "mode=old\\n" > config.ini',
    'git add -A && git -c user.name=b -c user.email=b@localhost commit -q -m initial',
    'echo staged >> src/f1.txt && git add src/f1.txt && echo unstaged >> src/f2.txt && echo notes > notes.txt',
  ].join(' && ');

/** Counts what a target is asked to run: processes here, sessions on a host. */
function counting(target: Target): { target: Target; calls: () => number } {
  let n = 0;
  const count =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    (...a: A) => {
      n++;
      return fn(...a);
    };
  return {
    target: { ...target, exec: count(target.exec), info: count(target.info), remove: count(target.remove), readFile: count(target.readFile) },
    calls: () => n,
  };
}

async function cycle(target: Target, dir: string): Promise<number> {
  const ctx: StepContext = { phase: 'apply', target, cwd: dir, runbookDir: dir, env: target.remote ? {} : process.env, signal: new AbortController().signal, timeoutMs: 60_000, output: () => {}, recorded: {} };
  const params: GitParams = { dir, checkpoint: 'checkpoint: bench' };
  const t0 = process.hrtime.bigint();
  const [undo] = await gitStep.inverse!(params, ctx);
  await gitStep.run(params, ctx);
  await gitStep.run(undo!.params as GitParams, ctx);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const fleet = await startSshHosts(['gitbench-1'], { firstOctet: 250 });
const controlDir = mkdtempSync(join(tmpdir(), 'rb-gitbench-'));
const localDir = join(mkdtempSync(join(tmpdir(), 'rb-gitbench-local-')), 'app');
try {
  const connection = await connectHost('gitbench-1', { sshConfig: fleet.sshConfig, controlDir });
  const here = counting(localTarget(localDir));
  const there = counting(connection.target);
  execFileSync('sh', ['-c', SEED(localDir)]);
  fleet.ssh('gitbench-1', SEED('/srv/app'));
  await cycle(here.target, localDir);
  await cycle(there.target, '/srv/app'); // warm-up
  const local: number[] = [];
  const remote: number[] = [];
  const [l0, r0] = [here.calls(), there.calls()];
  for (let i = 0; i < runs; i++) {
    local.push(await cycle(here.target, localDir));
    remote.push(await cycle(there.target, '/srv/app'));
  }
  const perCycle = (now: number, start: number) => Math.round((now - start) / runs);
  const [lm, rm] = [median(local), median(remote)];
  console.log(`git checkpoint + commit + undo, ${runs} cycles each, medians:`);
  console.log(`  this machine (local target): ${lm.toFixed(0)} ms  (${perCycle(here.calls(), l0)} processes/file ops a cycle)`);
  console.log(`  a host over ssh (ssh target): ${rm.toFixed(0)} ms  (${perCycle(there.calls(), r0)} sessions a cycle)`);
  console.log(`  host / local: ${(rm / lm).toFixed(2)}x`);
  await connection.close();
} finally {
  fleet.stop();
  rmSync(controlDir, { recursive: true, force: true });
  rmSync(join(localDir, '..'), { recursive: true, force: true });
}
