/**
 * Per-exec cost of the ssh target against raw ssh over the same master, side by side in one run:
 * N × `exec({ command: 'true' })` through the target vs N × `ssh -S <control> host true`
 * (interleaved, so both see the same machine load). Also a small writeFile and readFile.
 *
 *   npx tsx bench/ssh-exec.ts [N=50]
 *
 * benchSshExec() is the same as a function: bench/fleet.ts (`npm run bench:fleet`) calls it on its own fleet.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectHost } from '../src/run/remote/ssh-target.js';
import { startSshHosts, type SshHosts } from '../tools/ssh-hosts.js';

export interface SshExecFigures {
  runs: number;
  /** Medians in ms. */
  targetExecMs: number;
  rawSshMs: number;
  /** Fastest of each: less disturbed by other load on the machine. */
  targetExecMinMs: number;
  rawSshMinMs: number;
  ratio: number;
  writeFileMs: number;
  readFileMs: number;
  connectMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export function rawSsh(sshConfig: string, controlPath: string, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', ['-F', sshConfig, '-S', controlPath, '-o', 'ControlMaster=no', host, 'true'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`ssh exited with ${code}`))));
  });
}

/** On a host of its own (127.0.0.86), or on `host` of a fleet the caller started (and stops). */
export async function benchSshExec(runs = 50, on?: { fleet: SshHosts; host: string }): Promise<SshExecFigures> {
  const fleet = on?.fleet ?? (await startSshHosts(['bench-1'], { firstOctet: 86 }));
  const host = on?.host ?? 'bench-1';
  const controlDir = mkdtempSync(join(tmpdir(), 'rb-bench-'));
  try {
    const t0 = process.hrtime.bigint();
    const connection = await connectHost(host, { sshConfig: fleet.sshConfig, controlDir, lock: { runId: 'bench', user: 'bench', host: 'control', pid: process.pid, command: 'bench' } });
    const connectMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const { target } = connection;
    const signal = new AbortController().signal;
    const exec = () => target.exec({ command: 'true', cwd: '/', env: {}, signal });
    const raw = () => rawSsh(fleet.sshConfig, connection.controlPath, host);
    for (let i = 0; i < 3; i++) await Promise.all([exec(), raw()]); // warm-up
    const execs: number[] = [];
    const raws: number[] = [];
    const writes: number[] = [];
    const reads: number[] = [];
    const bytes = Buffer.from('key = value\n'.repeat(100));
    for (let i = 0; i < runs; i++) {
      execs.push(await timed(exec));
      raws.push(await timed(raw));
      writes.push(await timed(() => target.writeFile('/srv/bench.conf', bytes)));
      reads.push(await timed(() => target.readFile('/srv/bench.conf')));
    }
    await connection.close();
    const targetExecMs = median(execs);
    const rawSshMs = median(raws);
    return { runs, targetExecMs, rawSshMs, targetExecMinMs: Math.min(...execs), rawSshMinMs: Math.min(...raws), ratio: targetExecMs / rawSshMs, writeFileMs: median(writes), readFileMs: median(reads), connectMs };
  } finally {
    if (!on) fleet.stop();
    rmSync(controlDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const f = await benchSshExec(Number(process.argv[2] ?? 50));
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  process.stdout.write(
    [
      `| ssh target (${f.runs} runs, medians) | |`,
      '|---|---|',
      `| connect (master + host lock) | ${ms(f.connectMs)} |`,
      `| exec \`true\` through the target | ${ms(f.targetExecMs)} (fastest ${ms(f.targetExecMinMs)}) |`,
      `| raw \`ssh -S <control> host true\` | ${ms(f.rawSshMs)} (fastest ${ms(f.rawSshMinMs)}) |`,
      `| ratio target / raw | ${f.ratio.toFixed(2)}x (fastest: ${(f.targetExecMinMs / f.rawSshMinMs).toFixed(2)}x) |`,
      `| writeFile 1.2 KB (atomic, synced) | ${ms(f.writeFileMs)} |`,
      `| readFile 1.2 KB | ${ms(f.readFileMs)} |`,
      '',
    ].join('\n'),
  );
}
