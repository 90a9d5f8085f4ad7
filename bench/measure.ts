import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, tmpdir, totalmem } from 'node:os';

export interface Timing {
  name: string;
  medianMs: number;
  minMs: number;
  runs: number;
}

export function hasHyperfine(): boolean {
  return spawnSync('hyperfine', ['--version']).status === 0;
}

/**
 * Times shell commands side by side in one run: hyperfine when installed (interleaved
 * warm-up and runs), otherwise an in-script loop of the same commands.
 */
export function compare(commands: { name: string; command: string; prepare?: string }[], runs: number): Timing[] {
  if (hasHyperfine()) {
    const out = join(tmpdir(), `runbook-bench-${process.pid}.json`);
    const args = ['--warmup', '2', '--runs', String(runs), '--export-json', out, '--style', 'none', '-N'];
    const withShell = commands.some((c) => c.prepare) || commands.some((c) => /[|;&<>]/.test(c.command));
    if (withShell) args.splice(args.indexOf('-N'), 1);
    for (const c of commands) {
      if (c.prepare) args.push('--prepare', c.prepare);
      args.push('-n', c.name, c.command);
    }
    execFileSync('hyperfine', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    const json = JSON.parse(readFileSync(out, 'utf8')) as { results: { command: string; median: number; min: number; times: number[] }[] };
    rmSync(out, { force: true });
    return json.results.map((r) => ({ name: r.command, medianMs: r.median * 1000, minMs: r.min * 1000, runs: r.times.length }));
  }
  const samples = new Map<string, number[]>(commands.map((c) => [c.name, []]));
  for (let i = 0; i < runs + 1; i++) {
    for (const c of commands) {
      if (c.prepare) execFileSync('/bin/bash', ['-c', c.prepare]);
      const start = process.hrtime.bigint();
      execFileSync('/bin/bash', ['-c', c.command], { stdio: 'ignore' });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (i > 0) samples.get(c.name)!.push(ms);
    }
  }
  return commands.map((c) => {
    const s = samples.get(c.name)!.sort((a, b) => a - b);
    return { name: c.name, medianMs: s[Math.floor(s.length / 2)]!, minMs: s[0]!, runs: s.length };
  });
}

/** Wall time and peak RSS of one command, via GNU time. */
export function timeAndRss(command: string[]): { ms: number; rssMb: number; exitCode: number } {
  const start = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', ...command], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const lines = (r.stderr ?? '').trim().split('\n');
  const kb = Number(lines[lines.length - 1]);
  return { ms, rssMb: kb / 1024, exitCode: r.status ?? -1 };
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The machine a table was measured on: CPU model and count, memory, Node. */
export function machine(): string {
  return `${cpus()[0]?.model ?? 'cpu'} ×${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
}

/** One figure of a bench table. */
export interface Row {
  figure: string;
  engine: string;
  baseline: string;
  ratio: string;
  target: string;
  runs: number;
}

/**
 * Prints the rows as a markdown table under `machineLine`, and writes the same table and the
 * figures to bench/results/<name>.md and <name>.json.
 */
export function reportResults(name: string, machineLine: string, rows: Row[], json: Record<string, unknown>): void {
  const table = [
    machineLine,
    '',
    '| Figure | runbook | Baseline | Ratio | Target | Runs |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.figure} | ${r.engine} | ${r.baseline} | ${r.ratio} | ${r.target} | ${r.runs} |`),
  ].join('\n');
  process.stdout.write(table + '\n');
  const results = join(resolve(dirname(fileURLToPath(import.meta.url))), 'results');
  mkdirSync(results, { recursive: true });
  writeFileSync(join(results, `${name}.json`), JSON.stringify({ ...json, table: rows }, null, 2) + '\n');
  writeFileSync(join(results, `${name}.md`), table + '\n');
}
