/**
 * `npm run bench`: the engine's figures side by side with their baselines, in one run.
 * Prints a markdown table and writes the same figures to bench/results/latest.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ansiblePlaybook, bashScript, changesRunbook, failingRunbook, stepsRunbook } from './generate.js';
import { benchFleetRollout } from './fleet-rollout.js';
import { compare, hasHyperfine, machine, median, reportResults, timeAndRss, type Row } from './measure.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'bin', 'runbook.js');
const work = mkdtempSync(join(tmpdir(), 'runbook-bench-'));
const runs = Number(process.env.BENCH_RUNS ?? 10);
const rows: Row[] = [];
const json: Record<string, unknown> = { machine: machine(), date: new Date().toISOString(), runsPerTimedFigure: runs };

function fmt(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}
function write(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
}

// 1. Cold start: plan vs node -e 0, each with and without NODE_EXTRA_CA_CERTS (Node reads
// that bundle at every start: ~35 ms on these machines, the same for both commands).
{
  const phase1 = join(root, 'runbooks', 'phase1.yaml');
  const caCerts = process.env.NODE_EXTRA_CA_CERTS ?? (existsSync('/etc/ssl/certs/ca-certificates.crt') ? '/etc/ssl/certs/ca-certificates.crt' : undefined);
  const environments = [
    { label: 'without NODE_EXTRA_CA_CERTS', prefix: 'env -u NODE_EXTRA_CA_CERTS' },
    ...(caCerts ? [{ label: `with NODE_EXTRA_CA_CERTS=${caCerts}`, prefix: `env NODE_EXTRA_CA_CERTS=${caCerts}` }] : []),
  ];
  const coldStart: Record<string, unknown>[] = [];
  for (const { label, prefix } of environments) {
    const [plan, node] = compare(
      [
        { name: `runbook plan phase1 (${label})`, command: `${prefix} node ${cli} plan ${phase1}` },
        { name: `node -e 0 (${label})`, command: `${prefix} node -e 0` },
      ],
      runs,
    );
    const ratio = plan!.medianMs / node!.medianMs;
    rows.push({ figure: `Cold start: \`plan runbooks/phase1.yaml\`, ${label.replace(/=.*/, '')}`, engine: fmt(plan!.medianMs), baseline: `node -e 0: ${fmt(node!.medianMs)}`, ratio: `${ratio.toFixed(2)}x`, target: '≤ 2x', runs: plan!.runs });
    coldStart.push({ environment: label, planMs: plan!.medianMs, nodeMs: node!.medianMs, ratio, runs: plan!.runs });
  }
  json.coldStart = coldStart;

  // What no Node CLI gets below: loading our CLI and doing nothing (`--version`), and Node
  // loading js-yaml and parsing the same runbook, nothing else (bench/floors/yaml-parse.cjs).
  const [version, yamlOnly, node] = compare(
    [
      { name: 'runbook --version', command: `env -u NODE_EXTRA_CA_CERTS node ${cli} --version` },
      { name: 'node + js-yaml parse of phase1', command: `env -u NODE_EXTRA_CA_CERTS node ${join(root, 'bench', 'floors', 'yaml-parse.cjs')} ${phase1}` },
      { name: 'node -e 0', command: 'env -u NODE_EXTRA_CA_CERTS node -e 0' },
    ],
    runs,
  );
  const floorRatio = (t: { medianMs: number }) => `${(t.medianMs / node!.medianMs).toFixed(2)}x`;
  rows.push({ figure: 'Floor under a cold start: `runbook --version` (loading the CLI only); Node parsing phase1 with js-yaml and nothing else', engine: `${fmt(version!.medianMs)}; ${fmt(yamlOnly!.medianMs)}`, baseline: `node -e 0: ${fmt(node!.medianMs)}`, ratio: `${floorRatio(version!)}; ${floorRatio(yamlOnly!)}`, target: '—', runs: version!.runs });
  json.coldStartFloor = { versionMs: version!.medianMs, yamlParseOnlyMs: yamlOnly!.medianMs, nodeMs: node!.medianMs };
}

// 2. Per-step overhead: 200 steps, and 50 changes × (3 apply + 1 verify), vs bash
const stateDir = join(work, 'state');
// Without NODE_EXTRA_CA_CERTS, as the cold start: these machines set it, Node then reads ~220 KB
// of certificates at every start, and neither bash nor Ansible reads it.
function applyCommand(file: string): string {
  return `env -u NODE_EXTRA_CA_CERTS node ${cli} apply ${file} --yes --state-dir ${stateDir}`;
}
{
  const steps = write('steps200.yaml', stepsRunbook(200));
  const bash200 = write('steps200.sh', bashScript(200));
  const [engine, floor, bash] = compare(
    [
      { name: 'runbook apply 200 steps', command: applyCommand(steps), prepare: `rm -rf ${stateDir}` },
      { name: 'node: 200 × spawn, nothing else', command: `env -u NODE_EXTRA_CA_CERTS node ${join(root, 'bench', 'floors', 'spawn-loop.cjs')} 200` },
      { name: 'bash 200 × bash -c true', command: `bash ${bash200}` },
    ],
    Math.max(3, Math.round(runs / 2)),
  );
  const perStep = (engine!.medianMs - bash!.medianMs) / 200;
  const ratio = engine!.medianMs / bash!.medianMs;
  const aboveFloor = (engine!.medianMs - floor!.medianMs) / 200;
  rows.push({ figure: '200 `run: "true"` steps', engine: fmt(engine!.medianMs), baseline: `bash: ${fmt(bash!.medianMs)}`, ratio: `${ratio.toFixed(2)}x (+${perStep.toFixed(2)} ms/step)`, target: '≤ 2x', runs: engine!.runs });
  rows.push({ figure: 'Floor under the 200 steps: a bare Node script spawning them as the engine does (bench/floors/spawn-loop.cjs)', engine: `runbook: +${aboveFloor.toFixed(2)} ms/step above it`, baseline: `node: ${fmt(floor!.medianMs)}; bash: ${fmt(bash!.medianMs)}`, ratio: `floor ${(floor!.medianMs / bash!.medianMs).toFixed(2)}x bash`, target: '≤ 1 ms/step above spawn', runs: floor!.runs });
  json.steps200 = { engineMs: engine!.medianMs, bashMs: bash!.medianMs, ratio, overheadMsPerStep: perStep, nodeSpawnFloorMs: floor!.medianMs, engineMsPerStepAboveFloor: aboveFloor };

  // The same 200 steps on a real pseudo-terminal of a real size (util-linux `script`, 120×40):
  // the listr2 progress an operator watches, against the same apply piped and the bash loop.
  const terminal = (command: string) => `script -qec ${JSON.stringify(`stty cols 120 rows 40; env -u CI ${command}`)} /dev/null > /dev/null`;
  const [onTty, piped, bashTty] = compare(
    [
      { name: 'runbook apply 200 steps on a 120×40 pty', command: terminal(applyCommand(steps)), prepare: `rm -rf ${stateDir}` },
      { name: 'runbook apply 200 steps piped', command: `${applyCommand(steps)} | cat > /dev/null`, prepare: `rm -rf ${stateDir}` },
      { name: 'bash 200 × bash -c true', command: `bash ${bash200}`, prepare: 'true' },
    ],
    Math.max(3, Math.round(runs / 2)),
  );
  const ttyRatio = onTty!.medianMs / piped!.medianMs;
  const ttyBash = onTty!.medianMs / bashTty!.medianMs;
  rows.push({ figure: '200 steps on a real terminal (pty 120×40)', engine: fmt(onTty!.medianMs), baseline: `piped: ${fmt(piped!.medianMs)}; bash: ${fmt(bashTty!.medianMs)}`, ratio: `${ttyRatio.toFixed(2)}x piped, ${ttyBash.toFixed(2)}x bash`, target: '≤ 1.5x piped, ≤ 2x bash', runs: onTty!.runs });
  json.terminal200 = { ptyMs: onTty!.medianMs, pipedMs: piped!.medianMs, bashMs: bashTty!.medianMs, ratioToPiped: ttyRatio, ratioToBash: ttyBash };

  const changes = write('changes50.yaml', changesRunbook(50));
  const bash250 = write('steps250.sh', bashScript(250));
  const [engine50, bash50] = compare(
    [
      { name: 'runbook apply 50 changes', command: applyCommand(changes), prepare: `rm -rf ${stateDir}` },
      { name: 'bash 250 × bash -c true', command: `bash ${bash250}` },
    ],
    Math.max(3, Math.round(runs / 2)),
  );
  const ratio50 = engine50!.medianMs / bash50!.medianMs;
  rows.push({ figure: '50 changes × (3 apply + 1 verify)', engine: fmt(engine50!.medianMs), baseline: `bash: ${fmt(bash50!.medianMs)}`, ratio: `${ratio50.toFixed(2)}x`, target: '—', runs: engine50!.runs });
  json.changes50 = { engineMs: engine50!.medianMs, bashMs: bash50!.medianMs, ratio: ratio50 };

  // 3. Ansible, the same 50-task job
  if (spawnSync('ansible-playbook', ['--version']).status === 0) {
    const playbook = write('play50.yaml', ansiblePlaybook(50));
    const steps50 = write('steps50.yaml', stepsRunbook(50));
    const [engineA, ansible] = compare(
      [
        { name: 'runbook apply 50 steps', command: applyCommand(steps50), prepare: `rm -rf ${stateDir}` },
        { name: 'ansible-playbook 50 tasks', command: `ANSIBLE_NOCOLOR=1 ansible-playbook -i localhost, ${playbook}` },
      ],
      3,
    );
    const speedup = ansible!.medianMs / engineA!.medianMs;
    rows.push({ figure: '50 tasks vs Ansible (connection: local)', engine: fmt(engineA!.medianMs), baseline: `ansible: ${fmt(ansible!.medianMs)}`, ratio: `${speedup.toFixed(1)}x faster`, target: '≥ 50x faster', runs: engineA!.runs });
    json.ansible50 = { engineMs: engineA!.medianMs, ansibleMs: ansible!.medianMs, speedup };
  } else {
    process.stderr.write('note: ansible-playbook is not installed (apt-get install ansible-core); the Ansible comparison is skipped.\n');
    rows.push({ figure: '50 tasks vs Ansible', engine: '—', baseline: 'ansible-playbook not installed', ratio: 'skipped', target: '≥ 50x faster', runs: 0 });
    json.ansible50 = { skipped: 'ansible-playbook not installed' };
  }
}

// 4. Scale: validate + plan of 100, 1,000, 10,000 changes, and whether the growth is linear
{
  const scaleRuns = 3;
  const scale: { changes: number; validateMs: number; planMs: number; peakRssMb: number }[] = [];
  for (const n of [100, 1000, 10000]) {
    const file = write(`scale${n}.yaml`, changesRunbook(n, 1));
    const validate = Array.from({ length: scaleRuns }, () => timeAndRss(['node', cli, 'validate', file]));
    const plan = Array.from({ length: scaleRuns }, () => timeAndRss(['node', cli, 'plan', file, '--format', 'json']));
    const v = median(validate.map((r) => r.ms));
    const p = median(plan.map((r) => r.ms));
    const rss = Math.max(...plan.map((r) => r.rssMb), ...validate.map((r) => r.rssMb));
    if (plan.some((r) => r.exitCode !== 0)) process.stderr.write(`warning: plan of ${n} changes exited non-zero\n`);
    scale.push({ changes: n, validateMs: v, planMs: p, peakRssMb: rss });
    rows.push({ figure: `Scale: ${n.toLocaleString('en')} changes`, engine: `validate ${fmt(v)}, plan ${fmt(p)}`, baseline: `peak RSS ${rss.toFixed(0)} MB`, ratio: '—', target: n === 10000 ? '≤ 1 s, ≤ 200 MB' : '—', runs: scaleRuns });
  }
  // Cost of one more change, from the differences (the start-up cost drops out): linear when
  // the 1,000→10,000 step costs per change what the 100→1,000 step did (within 1.5x).
  const step = (a: (typeof scale)[number], b: (typeof scale)[number]) => ({
    msPerChange: (b.planMs - a.planMs) / (b.changes - a.changes),
    kbPerChange: ((b.peakRssMb - a.peakRssMb) * 1024) / (b.changes - a.changes),
  });
  const low = step(scale[0]!, scale[1]!);
  const high = step(scale[1]!, scale[2]!);
  const timeRatio = high.msPerChange / low.msPerChange;
  const rssRatio = high.kbPerChange / low.kbPerChange;
  const verdict = (r: number) => (r <= 1.5 ? 'linear' : `superlinear (${r.toFixed(2)}x per change)`);
  rows.push({
    figure: 'Scale: marginal cost per change',
    engine: `100→1,000: ${low.msPerChange.toFixed(3)} ms, ${low.kbPerChange.toFixed(1)} KB; 1,000→10,000: ${high.msPerChange.toFixed(3)} ms, ${high.kbPerChange.toFixed(1)} KB`,
    baseline: `time ${verdict(timeRatio)} (${timeRatio.toFixed(2)}x), RSS ${verdict(rssRatio)} (${rssRatio.toFixed(2)}x)`,
    ratio: '—',
    target: 'linear',
    runs: scaleRuns,
  });
  json.scale = { points: scale, marginal: { from100to1000: low, from1000to10000: high, timeRatio, rssRatio, linear: timeRatio <= 1.5 && rssRatio <= 1.5 } };
}

// 5. Failure latency: failing verify's end → first rollback step's start (journal timestamps)
{
  const file = write('failing.yaml', failingRunbook());
  const latencies: number[] = [];
  for (let i = 0; i < 5; i++) {
    rmSync(stateDir, { recursive: true, force: true });
    spawnSync('node', [cli, 'apply', file, '--yes', '--state-dir', stateDir], { stdio: 'ignore' });
    const runsDir = join(stateDir, 'runs');
    for (const name of readdirSync(runsDir)) {
      const events = readFileSync(join(runsDir, name), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; phase?: string; ok?: boolean; at: string });
      const failed = events.find((e) => e.type === 'step.finished' && e.phase === 'verify' && e.ok === false);
      const rollback = events.find((e) => e.type === 'step.started' && e.phase === 'rollback');
      if (failed && rollback) latencies.push(Date.parse(rollback.at) - Date.parse(failed.at));
    }
  }
  const m = latencies.length ? median(latencies) : NaN;
  rows.push({ figure: 'Failure → first rollback step', engine: Number.isNaN(m) ? 'not measured' : `${m.toFixed(0)} ms`, baseline: '(journal timestamps, ms resolution)', ratio: '—', target: '≤ 50 ms', runs: latencies.length });
  json.failureLatency = { medianMs: m, samples: latencies };
}

// 6. Rollout time on 4, 8 and 16 real sshd hosts (20 `run: "true"` steps each, batch 4): linear in the batches
if (spawnSync('sh', ['-c', 'command -v sshd || test -x /usr/sbin/sshd'], { stdio: 'ignore' }).status === 0) {
  const f = await benchFleetRollout(3);
  rows.push({
    figure: 'Rollout: 20 `run: "true"` steps per host, batch 4',
    engine: f.points.map((p) => `${p.hosts} hosts ${p.medianMs.toFixed(0)} ms`).join(', '),
    baseline: `one more batch: ${f.marginalMsPerBatch.map((m) => `${m.toFixed(0)} ms`).join(' then ')}`,
    ratio: `${f.growth.toFixed(2)}x`,
    target: 'linear in batches (≤ 1.5x)',
    runs: f.runs,
  });
  json.fleetRollout = f;
} else {
  rows.push({ figure: 'Rollout on 4, 8, 16 hosts', engine: '—', baseline: 'sshd not installed', ratio: 'skipped', target: 'linear in batches', runs: 0 });
}

reportResults('latest', `Machine: ${json.machine as string}; medians of the runs counted in the last column (${hasHyperfine() ? 'hyperfine' : 'in-script loop'}).`, rows, json);
rmSync(work, { recursive: true, force: true });
