/**
 * `npm run bench:fleet`: the engine on real sshd hosts (tools/ssh-hosts.ts, 127.0.0.204 on),
 * side by side with its baselines in one run, each comparison interleaved (A, B, A, B …):
 *
 * 1. 5 hosts × 20 `run: "true"` steps (one change, rollout canary 0, batch 5) vs ansible-playbook
 *    on the same 5 hosts through the same ssh_config (forks 5, pipelining, ControlPersist);
 *    skipped with a note when ansible-playbook is not installed.
 * 2. Per step on one host: (apply of 101 steps − apply of 1 step) / 100 vs raw
 *    `ssh -S <control> host true` over one master, and vs the transport alone (`target.exec`)
 *    in the same rounds; then bench/ssh-exec.ts on that host.
 * 3. Rollout of one change of 20 steps over 4, 8 and 16 hosts (batch 4, canary 0): per batch.
 *
 * Prints a markdown table and writes it with the figures to bench/results/fleet.{json,md}.
 * Every host (and every ssh master the bench or Ansible opened) is stopped at the end.
 *
 *   npm run bench:fleet            # BENCH_FLEET_RUNS=N rounds per comparison (default 5)
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectHost } from '../src/run/remote/ssh-target.js';
import { startSshHosts, type SshHosts } from '../tools/ssh-hosts.js';
import { fleetAnsibleCfg, fleetAnsibleInventory, fleetAnsiblePlaybook, fleetRunbook } from './generate.js';
import { machine, median, reportResults, type Row } from './measure.js';
import { benchSshExec, rawSsh } from './ssh-exec.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'bin', 'runbook.js');
/** Hosts on 127.0.0.204–219: clear of the test suites' addresses (and of 240–252). */
const FIRST_OCTET = 204;
const STEPS = 20;

interface JournalEvent {
  type: string;
  at: string;
  host?: string;
  batch?: number;
}

const fmt = (ms: number) => (ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** Runs a command to its end; its wall time in ms. Throws (with its output's tail) unless it exits 0. */
function timed(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    const keep = (d: Buffer) => {
      out = (out + d.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code === 0) resolvePromise(ms);
      else reject(new Error(`${argv.slice(0, 3).join(' ')} … exited with ${code}:\n${out}`));
    });
  });
}

/** The events of the only run journaled in a state dir. */
function journal(stateDir: string): JournalEvent[] {
  const dir = join(stateDir, 'runs');
  const files = readdirSync(dir);
  if (files.length !== 1) throw new Error(`expected one run in ${dir}, found ${files.length}`);
  return readFileSync(join(dir, files[0]!), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JournalEvent);
}

const at = (e: JournalEvent | undefined) => (e ? Date.parse(e.at) : NaN);

/** `timed` under GNU time: also the CPU (user + sys) of the command and every process it waited for, on this side. */
async function cpuTimed(argv: string[], env: NodeJS.ProcessEnv, scratch: string): Promise<{ ms: number; cpuMs: number }> {
  const out = join(scratch, 'time.txt');
  const ms = await timed(['/usr/bin/time', '-o', out, '-f', '%U %S', ...argv], env);
  const [user, sys] = readFileSync(out, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  return { ms, cpuMs: (user! + sys!) * 1000 };
}

/**
 * CPU spent on the hosts' side so far (ms): each host's sshd listener with everything it reaped
 * (its connections, their sessions and commands). A connection counts once it has closed.
 */
function hostCpuMs(fleetDir: string, hosts: string[]): number {
  let total = 0;
  for (const host of hosts) {
    const pids = spawnSync('pgrep', ['-f', `sshd -D -e -f ${join(fleetDir, 'hosts', host, 'sshd_config')}`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        // utime, stime, cutime, cstime (fields 14–17 of proc(5)), in clock ticks of 10 ms
        total += [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]) * 10, 0);
      } catch {
        // gone
      }
    }
  }
  return total;
}

export async function benchFleet(rounds: number): Promise<{ rows: Row[]; json: Record<string, unknown> }> {
  const work = mkdtempSync(join(tmpdir(), 'runbook-bench-fleet-'));
  const names = Array.from({ length: 16 }, (_, i) => `fleet-${i + 1}`);
  const rows: Row[] = [];
  const json: Record<string, unknown> = { rounds, loadBefore: load() };
  let fleet: SshHosts | undefined;
  const ansibleControl = join(work, 'ansible-cp');
  /** Ends the masters Ansible left persisting (ControlPersist), so each of its runs starts cold, as ours does. */
  const closeAnsibleMasters = () => {
    if (!existsSync(ansibleControl)) return;
    for (const socket of readdirSync(ansibleControl)) spawnSync('ssh', ['-S', join(ansibleControl, socket), '-O', 'exit', 'x'], { stdio: 'ignore', timeout: 5000 });
    rmSync(ansibleControl, { recursive: true, force: true });
  };
  try {
    fleet = await startSshHosts(names, { firstOctet: FIRST_OCTET });
    const sshConfig = fleet.sshConfig;
    const stateDir = join(work, 'state');
    const apply = (file: string) => ['node', cli, 'apply', file, '--ssh-config', sshConfig, '--yes', '--state-dir', stateDir];
    const applyFresh = async (file: string) => {
      rmSync(stateDir, { recursive: true, force: true });
      const ms = await timed(apply(file));
      return { ms, events: journal(stateDir) };
    };
    const write = (name: string, text: string) => {
      const path = join(work, name);
      writeFileSync(path, text);
      return path;
    };

    // 1. 5 hosts × 20 steps vs ansible-playbook, same hosts, same ssh_config
    {
      const five = names.slice(0, 5);
      const runbook = write('fleet5.yaml', fleetRunbook(five, STEPS, { canary: 0, batch: 5 }));
      const hasAnsible = spawnSync('ansible-playbook', ['--version']).status === 0;
      const engine: number[] = [];
      const inside: number[] = [];
      const stepsSpan: number[] = [];
      const ansible: number[] = [];
      const ansibleRaw: number[] = [];
      let env: NodeJS.ProcessEnv = process.env;
      let playbook = '';
      let playbookRaw = '';
      if (hasAnsible) {
        const inventory = write('inventory.ini', fleetAnsibleInventory(five, sshConfig));
        const cfg = write('ansible.cfg', fleetAnsibleCfg(inventory, ansibleControl));
        playbook = write('play-command.yaml', fleetAnsiblePlaybook(STEPS, 'command'));
        playbookRaw = write('play-raw.yaml', fleetAnsiblePlaybook(STEPS, 'raw'));
        env = { ...process.env, ANSIBLE_CONFIG: cfg, ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCAL_TEMP: join(work, 'ansible-tmp'), ANSIBLE_HOME: join(work, 'ansible-home') };
      } else {
        process.stderr.write('note: ansible-playbook is not installed (apt-get install ansible-core); the 5-host Ansible comparison is skipped.\n');
      }
      const fleetDir = dirname(sshConfig);
      const cpu = { engine: [] as { local: number; hosts: number }[], ansible: [] as { local: number; hosts: number }[], ansibleRaw: [] as { local: number; hosts: number }[] };
      /** One run with its CPU here and on the hosts (read once its connections are closed and reaped). */
      const profiled = async (argv: string[], runEnv: NodeJS.ProcessEnv, after: () => void) => {
        const before = hostCpuMs(fleetDir, five);
        const r = await cpuTimed(argv, runEnv, work).finally(after);
        await new Promise((res) => setTimeout(res, 200));
        return { ms: r.ms, cpu: { local: r.cpuMs, hosts: hostCpuMs(fleetDir, five) - before } };
      };
      for (let i = 0; i < rounds + 1; i++) {
        rmSync(stateDir, { recursive: true, force: true });
        const e = await profiled(apply(runbook), process.env, () => {});
        const r = { ms: e.ms, events: journal(stateDir) };
        const a = hasAnsible ? await profiled(['ansible-playbook', playbook], env, closeAnsibleMasters) : undefined;
        const ar = hasAnsible ? await profiled(['ansible-playbook', playbookRaw], env, closeAnsibleMasters) : undefined;
        const ansibleMs = a?.ms ?? NaN;
        const rawMs = ar?.ms ?? NaN;
        if (i === 0) continue; // warm-up
        cpu.engine.push(e.cpu);
        if (a && ar) {
          cpu.ansible.push(a.cpu);
          cpu.ansibleRaw.push(ar.cpu);
        }
        engine.push(r.ms);
        const started = r.events.find((e) => e.type === 'run.started');
        inside.push(at(r.events.at(-1)) - at(started));
        const steps = r.events.filter((e) => e.type === 'step.started' || e.type === 'step.finished');
        stepsSpan.push(at(steps.at(-1)) - at(steps[0]));
        ansible.push(ansibleMs);
        ansibleRaw.push(rawMs);
      }
      const e = median(engine);
      const breakdown = {
        wallMs: e,
        outsideJournaledRunMs: e - median(inside),
        journaledRunMs: median(inside),
        firstStepToLastStepMs: median(stepsSpan),
      };
      const cpuOf = (xs: { local: number; hosts: number }[]) => ({ localMs: xs.length ? median(xs.map((x) => x.local)) : NaN, hostsMs: xs.length ? median(xs.map((x) => x.hosts)) : NaN });
      const cpuMedians = { engine: cpuOf(cpu.engine), ansibleCommand: cpuOf(cpu.ansible), ansibleRaw: cpuOf(cpu.ansibleRaw) };
      const cpuText = (c: { localMs: number; hostsMs: number }) => `${fmt(c.localMs)} here + ${fmt(c.hostsMs)} on the hosts`;
      const how = `outside the journaled run (node start, load, connect + lock ×5, close) ${fmt(breakdown.outsideJournaledRunMs)}; first step → last step ${fmt(breakdown.firstStepToLastStepMs)}; CPU ${cpuText(cpuMedians.engine)}`;
      if (hasAnsible) {
        const a = median(ansible);
        const ar = median(ansibleRaw);
        rows.push({ figure: `5 hosts × ${STEPS} \`run: "true"\` vs ansible-playbook (\`command\`, forks 5, pipelining, ControlPersist)`, engine: fmt(e), baseline: `ansible: ${fmt(a)} (CPU ${cpuText(cpuMedians.ansibleCommand)})`, ratio: `${(a / e).toFixed(1)}x faster`, target: '≥ 20x faster', runs: engine.length });
        rows.push({ figure: `… the same against ansible \`raw: "true"\` (no Python on the host: Ansible's floor)`, engine: fmt(e), baseline: `ansible raw: ${fmt(ar)} (CPU ${cpuText(cpuMedians.ansibleRaw)})`, ratio: `${(ar / e).toFixed(1)}x faster`, target: '—', runs: engine.length });
        json.fleet5 = { engineMs: e, ansibleCommandMs: a, ansibleRawMs: ar, speedupCommand: a / e, speedupRaw: ar / e, breakdown, cpu: cpuMedians, samples: { engine, ansible, ansibleRaw } };
      } else {
        rows.push({ figure: `5 hosts × ${STEPS} \`run: "true"\` vs ansible-playbook`, engine: fmt(e), baseline: 'ansible-playbook not installed', ratio: 'skipped', target: '≥ 20x faster', runs: engine.length });
        json.fleet5 = { engineMs: e, skipped: 'ansible-playbook not installed', breakdown, cpu: cpuMedians, samples: { engine } };
      }
      rows.push({ figure: '… where the 5-host run\'s time goes (journal timestamps)', engine: fmt(e), baseline: how, ratio: '—', target: '—', runs: engine.length });
    }

    // 2. Per step on one host through the engine vs raw ssh over one master
    {
      const host = names[0]!;
      const n = 100;
      const one = write('host-1step.yaml', fleetRunbook([host], 1, { canary: 0, batch: 1 }));
      const many = write('host-101steps.yaml', fleetRunbook([host], n + 1, { canary: 0, batch: 1 }));
      const controlDir = mkdtempSync(join(tmpdir(), 'rb-bench-'));
      const connection = await connectHost(host, { sshConfig, controlDir, lock: false });
      const ones: number[] = [];
      const manys: number[] = [];
      const perStepInside: number[] = [];
      const raws: number[] = [];
      const execs: number[] = [];
      const signal = new AbortController().signal;
      const ms = async (fn: () => Promise<unknown>) => {
        const t0 = process.hrtime.bigint();
        await fn();
        return Number(process.hrtime.bigint() - t0) / 1e6;
      };
      try {
        for (let i = 0; i < rounds + 1; i++) {
          const a = await applyFresh(one);
          const b = await applyFresh(many);
          // The transport alone (an exec through the same kind of target the engine uses) and raw ssh, alternately.
          const r: number[] = [];
          const x: number[] = [];
          for (let k = 0; k < 20; k++) {
            x.push(await ms(() => connection.target.exec({ command: 'true', cwd: '/', env: {}, signal })));
            r.push(await ms(() => rawSsh(sshConfig, connection.controlPath, host)));
          }
          if (i === 0) continue;
          execs.push(...x);
          ones.push(a.ms);
          manys.push(b.ms);
          const steps = b.events.filter((e) => e.type === 'step.started' || e.type === 'step.finished');
          perStepInside.push((at(steps.at(-1)) - at(steps[0])) / (n + 1));
          raws.push(...r);
        }
      } finally {
        await connection.close();
        rmSync(controlDir, { recursive: true, force: true });
      }
      const perStep = (median(manys) - median(ones)) / n;
      const raw = median(raws);
      const exec = median(execs);
      const inJournal = median(perStepInside);
      rows.push({
        figure: `Per step on one host: (apply ${n + 1} steps − apply 1 step) / ${n}`,
        engine: `${fmt(perStep)} (journal: ${fmt(inJournal)})`,
        baseline: `raw \`ssh -S <control> host true\`: ${fmt(raw)}; the transport alone (\`target.exec\`): ${fmt(exec)}`,
        ratio: `${(perStep / raw).toFixed(2)}x raw (journal: ${(inJournal / raw).toFixed(2)}x); transport ${(exec / raw).toFixed(2)}x raw`,
        target: '≤ 1.5x',
        runs: manys.length,
      });
      json.perStep = { oneStepMs: median(ones), manyStepsMs: median(manys), steps: n + 1, perStepMs: perStep, perStepJournalMs: inJournal, rawSshMs: raw, transportExecMs: exec, ratio: perStep / raw, ratioJournal: inJournal / raw, transportRatio: exec / raw, rawSamples: raws.length };

      const t = await benchSshExec(rounds * 10, { fleet, host });
      rows.push({
        figure: 'Transport alone: exec `true` through the ssh target (bench/ssh-exec.ts)',
        engine: `${fmt(t.targetExecMs)} (connect + lock ${fmt(t.connectMs)})`,
        baseline: `raw: ${fmt(t.rawSshMs)}`,
        ratio: `${t.ratio.toFixed(2)}x`,
        target: '≤ 1.5x',
        runs: t.runs,
      });
      json.transport = t;
    }

    // 3. Rollout over 4, 8, 16 hosts, batch 4, canary 0: linear in the number of batches
    {
      const sizes = [4, 8, 16];
      const files = sizes.map((s) => write(`rollout${s}.yaml`, fleetRunbook(names.slice(0, s), STEPS, { canary: 0, batch: 4 })));
      const walls = sizes.map(() => [] as number[]);
      const batchSpans = sizes.map(() => [] as number[]);
      /** The largest rollout's spans by batch: a later batch costing more would show here. */
      const byIndex: number[][] = [];
      for (let i = 0; i < rounds + 1; i++) {
        for (const [k, file] of files.entries()) {
          const r = await applyFresh(file);
          if (i === 0) continue;
          walls[k]!.push(r.ms);
          // Each batch: its batch.started to the next one's (the last: to its last step's end).
          const starts = r.events.filter((e) => e.type === 'batch.started').map(at);
          const lastStep = at(r.events.filter((e) => e.type === 'step.finished').at(-1));
          starts.forEach((s, b) => batchSpans[k]!.push((starts[b + 1] ?? lastStep) - s));
          if (k === sizes.length - 1) starts.forEach((s, b) => (byIndex[b] ??= []).push((starts[b + 1] ?? lastStep) - s));
        }
      }
      const points = sizes.map((hosts, k) => ({ hosts, batches: hosts / 4, wallMs: median(walls[k]!), perBatchJournalMs: median(batchSpans[k]!) }));
      for (const p of points) {
        rows.push({ figure: `Rollout: ${p.hosts} hosts × ${STEPS} steps, batch 4 (${p.batches} batch${p.batches > 1 ? 'es' : ''})`, engine: fmt(p.wallMs), baseline: `per batch (journal): ${fmt(p.perBatchJournalMs)}`, ratio: '—', target: '—', runs: walls[0]!.length });
      }
      // Cost of one more batch from the differences (the start-up cost drops out).
      const low = (points[1]!.wallMs - points[0]!.wallMs) / (points[1]!.batches - points[0]!.batches);
      const high = (points[2]!.wallMs - points[1]!.wallMs) / (points[2]!.batches - points[1]!.batches);
      const growth = high / low;
      rows.push({
        figure: 'Rollout: one more batch of 4 hosts',
        engine: `4→8: ${fmt(low)}; 8→16: ${fmt(high)}`,
        baseline: growth <= 1.5 && growth >= 1 / 1.5 ? `linear (${growth.toFixed(2)}x)` : `not linear (${growth.toFixed(2)}x per batch)`,
        ratio: '—',
        target: 'linear',
        runs: walls[0]!.length,
      });
      const spans = byIndex.map((xs) => median(xs));
      rows.push({
        figure: `Rollout: each batch of the ${sizes.at(-1)}-host rollout, in order (journal)`,
        engine: spans.map(fmt).join(', '),
        baseline: `last / first: ${(spans.at(-1)! / spans[0]!).toFixed(2)}x`,
        ratio: '—',
        target: 'flat',
        runs: walls[0]!.length,
      });
      json.rollout = { points, marginalMsPerBatch: { from4to8: low, from8to16: high }, growth, spansByBatchOfLargest: spans };
    }
  } finally {
    closeAnsibleMasters();
    fleet?.stop();
    rmSync(work, { recursive: true, force: true });
  }
  json.loadAfter = load();
  return { rows, json };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rounds = Number(process.env.BENCH_FLEET_RUNS ?? 5);
  const { rows, json } = await benchFleet(rounds);
  reportResults('fleet', `Machine: ${machine()}; load average ${json.loadBefore as string} before, ${json.loadAfter as string} after; medians of interleaved rounds (last column).`, rows, { machine: machine(), date: new Date().toISOString(), ...json });
}
