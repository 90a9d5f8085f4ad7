/**
 * `npm run demo:fleet`: Phase 1's pattern on a fleet. Four real sshd hosts on 127.0.0.200–203
 * (tools/ssh-hosts.ts: each in its own namespaces, with its own /srv, /root and crontab), each
 * running a small app on its own address; then examples/fleet/phase1-fleet.yaml rolled out
 * canary 1, batch 2 → status → rollback → the same rollout with a fault on host-3 (every
 * changed host rolled back) → hosts down, nothing left running.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSshHosts, type SshHosts } from '../../tools/ssh-hosts.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const cli = join(repoRoot, 'bin', 'runbook.js');
const runbook = relative(repoRoot, join(here, 'phase1-fleet.yaml'));
const faultInventory = relative(repoRoot, join(here, 'inventory-fault.yaml'));
const names = ['host-1', 'host-2', 'host-3', 'host-4'];
const FIRST_OCTET = 200; // the addresses phase1-fleet.yaml and inventory-fault.yaml name

function section(title: string): void {
  process.stdout.write(`\n\x1b[1m━━ ${title} ${'━'.repeat(Math.max(0, 70 - title.length))}\x1b[0m\n\n`);
}

/** The app as each host has it before the demo: config, data, a restart script, a crontab. */
function setUpHost(fleet: SshHosts, name: string, address: string): void {
  const restart = [
    '#!/bin/sh',
    '# Restarts the app: stops the running one, then starts it on the current /srv/app/app.conf,',
    '# detached (setsid) so that it outlives the ssh session that ran this.',
    'if [ -f /srv/app/app.pid ]; then',
    '  pid=$(cat /srv/app/app.pid)',
    '  kill "$pid" 2>/dev/null',
    '  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done',
    '  rm -f /srv/app/app.pid',
    'fi',
    `setsid ${process.execPath} ${join(here, 'app-server.mjs')} /srv/app/app.conf ${address} >>/srv/app/app.log 2>&1 </dev/null &`,
    'pid=$!',
    'echo "$pid" > /srv/app/app.pid',
    '# Return only once the app has left our process group (a session of its own): runbook ends',
    '# what a step leaves in its group when the step ends, as systemd ends what a unit leaves.',
    'while kill -0 "$pid" 2>/dev/null && [ "$(ps -o sid= -p "$pid" | tr -d " ")" != "$pid" ]; do sleep 0.05; done',
    '',
  ].join('\n');
  const script = [
    'set -e',
    'mkdir -p /srv/app/data',
    'echo "id,total" > /srv/app/data/orders.csv',
    "printf 'name=app\\npool_size=10\\nlog_level=info\\n' > /srv/app/app.conf",
    `cat > /srv/app/restart <<'EOF'\n${restart}EOF`,
    'chmod 755 /srv/app/restart',
    "printf 'MAILTO=ops@example.com\\n*/5 * * * * /srv/app/healthcheck.sh\\n' | crontab -",
    '/srv/app/restart',
  ].join('\n');
  const r = fleet.ssh(name, script);
  if (r.status !== 0) throw new Error(`setting up ${name} failed: ${r.stderr}`);
}

async function health(address: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    try {
      const res = await fetch(`http://${address}:8080/health`, { signal: AbortSignal.timeout(1000) });
      return (await res.text()).trim();
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return 'DOWN';
}

/** What the rollback must restore, per host: app.conf's bytes, the crontab, what the app answers. */
async function hostState(fleet: SshHosts): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  for (const h of fleet.hosts) {
    const r = fleet.ssh(h.name, 'cat /srv/app/app.conf; echo ---; crontab -l');
    state[h.name] = `app.conf+crontab sha256 ${createHash('sha256').update(r.stdout).digest('hex').slice(0, 12)} · ${await health(h.address)}`;
  }
  return state;
}

async function showHosts(fleet: SshHosts): Promise<Record<string, string>> {
  const state = await hostState(fleet);
  for (const [name, line] of Object.entries(state)) process.stdout.write(`  ${name}  ${line}\n`);
  return state;
}

function runbookCli(args: string[], fleet: SshHosts, stateDir: string): number {
  const shown = args.map((a) => (a === fleet.sshConfig ? '$SSH_CONFIG' : a)).join(' ');
  process.stdout.write(`$ runbook ${shown}\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [cli, ...args, '--state-dir', stateDir], { stdio: 'inherit', cwd: repoRoot });
  process.stdout.write(`\n(exit ${r.status}, ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  return r.status ?? 1;
}

function listening(address: string, port: number): Promise<boolean> {
  return new Promise((resolveListening) => {
    const socket = connect({ host: address, port });
    socket.once('connect', () => {
      socket.destroy();
      resolveListening(true);
    });
    socket.once('error', () => resolveListening(false));
  });
}

async function main(): Promise<number> {
  const started = Date.now();
  const problems: string[] = [];
  const expect = (what: string, ok: boolean) => {
    if (!ok) problems.push(what);
    process.stdout.write(`${ok ? '✔' : '✖'} ${what}\n`);
  };
  const stateDir = mkdtempSync(join(tmpdir(), 'runbook-demo-fleet-'));

  section('1/7  Four sandbox hosts, each with its app on its own address');
  const fleet = await startSshHosts(names, { firstOctet: FIRST_OCTET });
  try {
    for (const h of fleet.hosts) setUpHost(fleet, h.name, h.address);
    process.stdout.write(`SSH_CONFIG=${fleet.sshConfig}   (ssh -F $SSH_CONFIG host-1)\n\n`);
    const before = await showHosts(fleet);
    const ssh = ['--ssh-config', fleet.sshConfig];

    section('2/7  Plan: risk × hosts, and the rollout: canary 1, then batches of 2');
    runbookCli(['plan', runbook, ...ssh], fleet, stateDir);

    section('3/7  Apply: the canary alone, then two hosts at a time, each verified over HTTP');
    expect('apply exits 0', runbookCli(['apply', runbook, ...ssh, '--yes'], fleet, stateDir) === 0);
    const applied = await hostState(fleet);
    for (const [name, line] of Object.entries(applied)) process.stdout.write(`  ${name}  ${line}\n`);
    expect('every host answers with pool_size=20', Object.values(applied).every((l) => l.includes('pool_size=20')));
    process.stdout.write(`\n$ ssh host-4 crontab -l\n${fleet.ssh('host-4', 'crontab -l').stdout.replace(/^/gm, '  ')}`);

    section('4/7  Status');
    runbookCli(['status', runbook], fleet, stateDir);

    section('5/7  Rollback: every host, newest batch first');
    expect('rollback exits 0', runbookCli(['rollback', runbook, ...ssh, '--yes'], fleet, stateDir) === 0);
    const after = await showHosts(fleet);
    expect('every host is as before the apply (app.conf and crontab bytes, the app on pool_size=10)', JSON.stringify(after) === JSON.stringify(before));

    section('6/7  Again, with a fault on host-3: its app refuses pool_size=2O');
    expect('apply exits 1', runbookCli(['apply', runbook, ...ssh, '--inventory', faultInventory, '--yes'], fleet, stateDir) === 1);
    process.stdout.write(`$ ssh host-3 tail -n 3 /srv/app/app.log\n${fleet.ssh('host-3', 'tail -n 3 /srv/app/app.log').stdout.replace(/^/gm, '  ')}\n`);
    const afterFault = await showHosts(fleet);
    expect('every host the rollout changed is back as before (the canary and host-2 too)', JSON.stringify(afterFault) === JSON.stringify(before));
  } finally {
    section('7/7  Hosts down');
    fleet.stop();
    rmSync(stateDir, { recursive: true, force: true });
    const left = (await Promise.all(fleet.hosts.flatMap((h) => [listening(h.address, 22), listening(h.address, 8080)]))).filter(Boolean).length;
    expect('nothing listens on 127.0.0.200–203 any more (sshd, the apps: gone with their namespaces)', left === 0);
  }
  process.stdout.write(`\n${problems.length ? `✖ demo failed: ${problems.join('; ')}` : '✅ demo finished'} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return problems.length ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    process.stderr.write(`demo:fleet: ${error.message}\n`);
    process.exitCode = 1;
  },
);
