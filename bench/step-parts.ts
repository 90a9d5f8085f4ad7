/**
 * Where a local step's time goes, one part at a time, side by side in one run: N × `true`
 * started by bash itself (the floor), by the fork server, by node:child_process and by execa
 * (each with stdout/stderr piped, as a step has them), and N journal lines appended with an
 * fdatasync each (the one sync a step pays before it runs). Rounds are interleaved (A, B, C …)
 * so every part sees the same load; medians per call.
 *
 *   npx tsx bench/step-parts.ts [N=200] [rounds=5]
 *
 * benchStepParts() is the same as a function: bench/run.ts (`npm run bench`) calls it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLocally } from '../src/steps/kit/fork-server.js';
import { median } from './measure.js';

export interface StepParts {
  calls: number;
  rounds: number;
  /** Medians of the rounds, in ms per call. */
  bashMs: number;
  forkServerMs: number;
  childProcessMs: number;
  execaMs: number;
  fdatasyncMs: number;
}

function viaChildProcess(): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('/bin/bash', ['-o', 'pipefail', '-c', 'true'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', () => {});
    child.stderr.on('data', () => {});
    child.on('close', () => resolve());
  });
}

export async function benchStepParts(calls = 200, rounds = 5): Promise<StepParts> {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-step-parts-'));
  const { execa } = await import('execa');
  const script = join(dir, 'loop.sh');
  writeFileSync(script, `for i in $(seq ${calls}); do /bin/bash -o pipefail -c true; done\n`);
  const request = { command: 'true', cwd: dir, env: process.env, signal: new AbortController().signal };
  const parts: Record<'bash' | 'forkServer' | 'childProcess' | 'execa' | 'fdatasync', number[]> = { bash: [], forkServer: [], childProcess: [], execa: [], fdatasync: [] };
  const time = async (work: () => Promise<unknown> | unknown): Promise<number> => {
    const start = performance.now();
    for (let i = 0; i < calls; i++) await work();
    return (performance.now() - start) / calls;
  };
  try {
    await runLocally(request); // the server's start is paid once per run, not per step
    for (let round = 0; round < rounds; round++) {
      const start = performance.now();
      spawnSync('bash', [script], { stdio: 'ignore' });
      parts.bash.push((performance.now() - start) / calls);
      parts.forkServer.push(await time(() => runLocally(request)));
      parts.childProcess.push(await time(viaChildProcess));
      parts.execa.push(await time(() => execa('/bin/bash', ['-o', 'pipefail', '-c', 'true'], { detached: true, reject: false, stdin: 'ignore' })));
      const fd = openSync(join(dir, 'journal.jsonl'), 'a');
      const line = JSON.stringify({ type: 'step.started', phase: 'apply', changeId: 'many-steps', index: 0, label: 'true', attempt: 1, seq: 3, at: new Date().toISOString() }) + '\n';
      parts.fdatasync.push(
        await time(() => {
          writeSync(fd, line);
          fdatasyncSync(fd);
        }),
      );
      closeSync(fd);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    calls,
    rounds,
    bashMs: median(parts.bash),
    forkServerMs: median(parts.forkServer),
    childProcessMs: median(parts.childProcess),
    execaMs: median(parts.execa),
    fdatasyncMs: median(parts.fdatasync),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const f = await benchStepParts(Number(process.argv[2] ?? 200), Number(process.argv[3] ?? 5));
  const rows = [
    ['bash starting `bash -c true` (the floor)', f.bashMs],
    ['fork server (runbook now)', f.forkServerMs],
    ['node:child_process spawn (runbook before)', f.childProcessMs],
    ['execa', f.execaMs],
    ['journal line + fdatasync', f.fdatasyncMs],
  ] as const;
  process.stdout.write(`${f.calls} calls × ${f.rounds} interleaved rounds, median ms per call\n`);
  for (const [name, ms] of rows) process.stdout.write(`${name.padEnd(45)} ${ms.toFixed(2)} ms (${(ms / f.bashMs).toFixed(2)}x bash)\n`);
}
