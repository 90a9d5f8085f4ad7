/**
 * `npx tsx bench/compare-builds.ts OTHER/bin/runbook.js [runs]`: this tree's build against
 * another (e.g. main's, built in a temp copy), side by side in one run, interleaved: cold
 * `plan runbooks/phase1.yaml` with `node -e 0`, without and with NODE_EXTRA_CA_CERTS; then
 * `validate` and `plan --format json` of generated runbooks of 100, 1,000 and 10,000 changes
 * (wall time, peak RSS, the cost of one more change). Prints a markdown table.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { changesRunbook } from './generate.js';
import { compare, median, timeAndRss } from './measure.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const other = process.argv[2];
const runs = Number(process.argv[3] ?? 15);
if (!other || !existsSync(other)) {
  process.stderr.write('usage: npx tsx bench/compare-builds.ts OTHER/bin/runbook.js [runs]\n');
  process.exit(2);
}
const builds = { other: resolve(other), this: join(root, 'bin', 'runbook.js') };
const phase1 = join(root, 'runbooks', 'phase1.yaml');
const work = mkdtempSync(join(tmpdir(), 'runbook-compare-'));
const fmt = (ms: number) => (ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`);
const lines = ['| Figure | other build | this build | this / other |', '|---|---|---|---|'];

const caCerts = process.env.NODE_EXTRA_CA_CERTS ?? (existsSync('/etc/ssl/certs/ca-certificates.crt') ? '/etc/ssl/certs/ca-certificates.crt' : undefined);
for (const [label, prefix] of [['without NODE_EXTRA_CA_CERTS', 'env -u NODE_EXTRA_CA_CERTS'], ...(caCerts ? [['with NODE_EXTRA_CA_CERTS', `env NODE_EXTRA_CA_CERTS=${caCerts}`]] : [])] as const) {
  const [node, a, b] = compare(
    [
      { name: 'node -e 0', command: `${prefix} node -e 0` },
      { name: 'other', command: `${prefix} node ${builds.other} plan ${phase1}` },
      { name: 'this', command: `${prefix} node ${builds.this} plan ${phase1}` },
    ],
    runs,
  );
  const vsNode = (t: number) => `${fmt(t)} (${(t / node!.medianMs).toFixed(2)}x node -e 0: ${fmt(node!.medianMs)})`;
  lines.push(`| Cold start, ${label} (${a!.runs} runs) | ${vsNode(a!.medianMs)} | ${vsNode(b!.medianMs)} | ${(b!.medianMs / a!.medianMs).toFixed(2)}x |`);
}

const scaleRuns = Math.max(3, Math.ceil(runs / 3));
const points: Record<'other' | 'this', { changes: number; planMs: number; rssMb: number }[]> = { other: [], this: [] };
for (const changes of [100, 1000, 10000]) {
  const file = join(work, `scale${changes}.yaml`);
  writeFileSync(file, changesRunbook(changes, 1));
  const samples = { other: { validate: [] as number[], plan: [] as number[], rss: [] as number[] }, this: { validate: [] as number[], plan: [] as number[], rss: [] as number[] } };
  for (let i = 0; i < scaleRuns; i++) {
    for (const which of ['other', 'this'] as const) {
      const v = timeAndRss(['env', '-u', 'NODE_EXTRA_CA_CERTS', 'node', builds[which], 'validate', file]);
      const p = timeAndRss(['env', '-u', 'NODE_EXTRA_CA_CERTS', 'node', builds[which], 'plan', file, '--format', 'json']);
      samples[which].validate.push(v.ms);
      samples[which].plan.push(p.ms);
      samples[which].rss.push(v.rssMb, p.rssMb);
    }
  }
  const cell = (which: 'other' | 'this') => {
    const s = samples[which];
    points[which].push({ changes, planMs: median(s.plan), rssMb: Math.max(...s.rss) });
    return `validate ${fmt(median(s.validate))}, plan ${fmt(median(s.plan))}, peak RSS ${Math.max(...s.rss).toFixed(0)} MB`;
  };
  const [a, b] = [cell('other'), cell('this')];
  lines.push(`| Scale: ${changes.toLocaleString('en')} changes (${scaleRuns} runs) | ${a} | ${b} | plan ${(median(samples.this.plan) / median(samples.other.plan)).toFixed(2)}x, RSS ${(Math.max(...samples.this.rss) / Math.max(...samples.other.rss)).toFixed(2)}x |`);
}
const marginal = (which: 'other' | 'this') => {
  const [p100, p1k, p10k] = points[which];
  const per = (x: typeof p100, y: typeof p100) => ({ ms: (y!.planMs - x!.planMs) / (y!.changes - x!.changes), kb: ((y!.rssMb - x!.rssMb) * 1024) / (y!.changes - x!.changes) });
  const [low, high] = [per(p100, p1k), per(p1k, p10k)];
  return `${low.ms.toFixed(3)} ms, ${low.kb.toFixed(1)} KB then ${high.ms.toFixed(3)} ms, ${high.kb.toFixed(1)} KB (time ${(high.ms / low.ms).toFixed(2)}x, RSS ${(high.kb / low.kb).toFixed(2)}x)`;
};
lines.push(`| Scale: one more change, 100→1,000 then 1,000→10,000 | ${marginal('other')} | ${marginal('this')} | |`);
rmSync(work, { recursive: true, force: true });
process.stdout.write(lines.join('\n') + '\n');
