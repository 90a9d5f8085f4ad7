/**
 * Rollout time against the number of hosts: one change of 20 `run: "true"` steps on 4, 8 and 16
 * real sshd hosts (tools/ssh-hosts.ts), `rollout: { canary: 0, batch: 4 }` — so 1, 2 and 4
 * batches — through the built CLI, as an operator runs it (piped output, a fresh state dir each
 * run). Linear in the number of batches when the time one more batch costs stays the same:
 * (t8 − t4) / 1 against (t16 − t8) / 2.
 *
 *   npx tsx bench/fleet-rollout.ts [runs=3]
 *
 * benchFleetRollout() is the same as a function, for bench/run.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSshHosts } from '../tools/ssh-hosts.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'bin', 'runbook.js');
const STEPS = 20;
const BATCH = 4;
const SIZES = [4, 8, 16];

export interface FleetRolloutFigures {
  runs: number;
  points: { hosts: number; batches: number; medianMs: number; msPerBatch: number; samples: number[] }[];
  /** The cost of one more batch, 4→8 hosts and 8→16 hosts. */
  marginalMsPerBatch: [number, number];
  /** Second marginal cost over the first: ≤ 1.5 counts as linear. */
  growth: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function rolloutRunbook(hosts: string[]): string {
  const steps = Array.from({ length: STEPS }, () => '      - run: "true"\n').join('');
  return `runbook: 1
name: bench-rollout
title: ${STEPS} steps on ${hosts.length} hosts
hosts:
  fleet: [${hosts.join(', ')}]
rollout: { canary: 0, batch: ${BATCH} }
changes:
  - id: steps
    title: ${STEPS} quick steps
    risk: 0
    on: fleet
    apply:
${steps}    rollback:
      - run: "true"
`;
}

export async function benchFleetRollout(runs = 3): Promise<FleetRolloutFigures> {
  const names = Array.from({ length: Math.max(...SIZES) }, (_, i) => `bench-${i + 1}`);
  // 127.0.0.204–219: clear of the suite's hosts (test/fleet uses 120–181, the fleet demo 200–203).
  const fleet = await startSshHosts(names, { firstOctet: 204 });
  const work = mkdtempSync(join(tmpdir(), 'runbook-bench-fleet-'));
  try {
    const points: FleetRolloutFigures['points'] = [];
    for (const size of SIZES) {
      const file = join(work, `rollout-${size}.yaml`);
      writeFileSync(file, rolloutRunbook(names.slice(0, size)));
      const samples: number[] = [];
      // Interleaving sizes would share the machine's load more evenly, but a run's hosts stay
      // locked until it ends anyway: one size after the other, fresh state each run.
      for (let i = 0; i < runs + 1; i++) {
        const state = join(work, `state-${size}-${i}`);
        const t0 = process.hrtime.bigint();
        const r = spawnSync(process.execPath, [cli, 'apply', file, '--yes', '--state-dir', state, '--ssh-config', fleet.sshConfig], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (r.status !== 0) throw new Error(`apply on ${size} hosts exited ${r.status}: ${r.stderr || r.stdout.slice(-2000)}`);
        if (i > 0) samples.push(ms); // the first run of each size warms up
      }
      const batches = Math.ceil(size / BATCH);
      const m = median(samples);
      points.push({ hosts: size, batches, medianMs: m, msPerBatch: m / batches, samples });
    }
    const [p4, p8, p16] = points as [FleetRolloutFigures['points'][0], FleetRolloutFigures['points'][0], FleetRolloutFigures['points'][0]];
    const first = (p8.medianMs - p4.medianMs) / (p8.batches - p4.batches);
    const second = (p16.medianMs - p8.medianMs) / (p16.batches - p8.batches);
    return { runs, points, marginalMsPerBatch: [first, second], growth: second / first };
  } finally {
    fleet.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const f = await benchFleetRollout(Number(process.argv[2] ?? 3));
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  process.stdout.write(
    [
      `| Rollout of ${STEPS} \`run: "true"\` steps, batch ${BATCH} (${f.runs} runs, medians) | time | batches | per batch |`,
      '|---|---|---|---|',
      ...f.points.map((p) => `| ${p.hosts} hosts | ${ms(p.medianMs)} | ${p.batches} | ${ms(p.msPerBatch)} |`),
      `| one more batch | 4→8 hosts: ${ms(f.marginalMsPerBatch[0])}; 8→16 hosts: ${ms(f.marginalMsPerBatch[1])} | | ${f.growth <= 1.5 ? 'linear' : 'superlinear'} (${f.growth.toFixed(2)}x) |`,
      '',
    ].join('\n'),
  );
}
