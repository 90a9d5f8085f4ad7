/**
 * Real SSH hosts for tests and the fleet demo: one `sshd -D` per host on 127.0.0.N:22, each in
 * its own pid, mount and UTS namespace (`unshare`), with its own hostname and fresh tmpfs over
 * /srv, /root, /run/lock and the cron spool — so what a step changes on one host is seen on no other host
 * and never on this machine. The client side is the system OpenSSH client driven by an
 * ssh_config of our own: host aliases, a key made for the run, a known_hosts holding each host's
 * key (strict checking stays on), BatchMode, and multiplexed connections.
 *
 * Hosts are throwaway (tools/throwaway.ts): stopped with SIGKILL of their namespace when the
 * process that started them ends, or by the next run if it was killed.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownThrowaway, running, sleepSync } from './throwaway.js';

export interface TestHost {
  /** The ssh alias, also the host's hostname. */
  name: string;
  address: string;
}

export interface SshHosts {
  hosts: TestHost[];
  /** ssh_config for every ssh: `ssh -F sshConfig <name>`. */
  sshConfig: string;
  /** Runs a shell command on a host over ssh (as root), synchronously. */
  ssh(name: string, command: string): { status: number | null; stdout: string; stderr: string };
  stop(): void;
}

const SSHD = existsSync('/usr/sbin/sshd') ? '/usr/sbin/sshd' : 'sshd';

/** Inside the host's namespaces, as its PID 1's parent shell: a world of its own, then sshd. */
function hostScript(name: string, config: string): string {
  return [
    'set -e',
    `hostname ${name}`,
    'mount -t tmpfs -o mode=755 tmpfs /srv',
    'mount -t tmpfs -o mode=700 tmpfs /root',
    'mkdir -p /var/spool/cron/crontabs /run/sshd',
    'mount -t tmpfs -o mode=1730 tmpfs /var/spool/cron/crontabs',
    'chgrp crontab /var/spool/cron/crontabs 2>/dev/null || true',
    // Each host's own /run/lock, as a real host has: where the runbook host lock lives.
    'mkdir -p /run/lock',
    'mount -t tmpfs -o mode=1777 tmpfs /run/lock',
    `exec ${SSHD} -D -e -f ${config}`,
  ].join('\n');
}

function sshdConfig(dir: string, host: TestHost, hostDir: string): string {
  return [
    `ListenAddress ${host.address}:22`,
    `HostKey ${join(hostDir, 'host_key')}`,
    `PidFile ${join(hostDir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    // The key files live in a temp dir under a world-writable parent (/dev/shm, /tmp).
    'StrictModes no',
    // Secrets reach a host through the channel's environment, never its command line.
    'AcceptEnv RUNBOOK_*',
    'MaxSessions 50',
    'MaxStartups 100:30:200',
    'LogLevel ERROR',
    '',
  ].join('\n');
}

function clientConfig(dir: string, hosts: TestHost[]): string {
  return [
    ...hosts.flatMap((h) => [`Host ${h.name}`, `  HostName ${h.address}`]),
    'Host *',
    '  User root',
    `  IdentityFile ${join(dir, 'client_key')}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${join(dir, 'known_hosts')}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  BatchMode yes',
    '  ControlMaster auto',
    `  ControlPath ${join(dir, 'cm-%C')}`,
    '  ControlPersist 60',
    '  ConnectTimeout 5',
    '  LogLevel ERROR',
    '',
  ].join('\n');
}

function listening(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port: 22 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Kills each host's namespace. Its first process goes first, so that unshare (its parent)
 * reaps it and exits; killed the other way round it would be left a zombie for this
 * machine's init.
 */
function stopNamespaces(unsharePids: number[]): void {
  const kill = (pid: number) => {
    try {
      process.kill(pid, 'SIGKILL'); // unshare --fork ignores SIGTERM
    } catch {
      // already gone
    }
  };
  for (const pid of unsharePids) {
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      // unshare is gone already
    }
    for (const child of children) kill(Number(child));
  }
  const deadline = Date.now() + 2_000;
  while (unsharePids.some(running) && Date.now() < deadline) sleepSync(10);
  for (const pid of unsharePids) kill(pid);
}

/** Stops a fleet started with a `dir` (by another process): `npm run fleet -- down`. */
export function stopSshHostsAt(dir: string): boolean {
  const file = join(dir, 'fleet.json');
  if (!existsSync(file)) return false;
  const { namespaces } = JSON.parse(readFileSync(file, 'utf8')) as { namespaces: number[] };
  // Only processes that are still this fleet's: unshare runs with its cwd in the fleet's dir.
  const inFleet = (pid: number) => {
    try {
      return readlinkSync(`/proc/${pid}/cwd`).startsWith(realpathSync(dir));
    } catch {
      return false;
    }
  };
  stopNamespaces(namespaces.filter(inFleet));
  rmSync(dir, { recursive: true, force: true });
  return true;
}

/**
 * Starts one host per name on 127.0.0.<firstOctet>, <firstOctet + 1>, … (loopback only).
 * Without `dir` the hosts are this process's own (throwaway); with it they run until
 * stopSshHostsAt(dir) (`npm run fleet -- down`).
 */
export async function startSshHosts(names: string[], { firstOctet = 12, dir: keptIn }: { firstOctet?: number; dir?: string } = {}): Promise<SshHosts> {
  if (firstOctet < 2 || firstOctet + names.length > 254) throw new Error('test hosts live on 127.0.0.2–254');
  if (keptIn && existsSync(join(keptIn, 'fleet.json'))) throw new Error(`a fleet is already up in ${keptIn}; stop it first`);
  const dir = keptIn ?? mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'runbook-ssh-'));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const hosts = names.map((name, i) => ({ name, address: `127.0.0.${firstOctet + i}` }));
  const hostDir = (h: TestHost) => join(dir, 'hosts', h.name);
  const owned = keptIn
    ? undefined
    : ownThrowaway(
        'throwaway sshd hosts',
        [dir],
        hosts.map((h) => ({ path: join(hostDir(h), 'namespace.pid'), signal: 'SIGKILL' as const })),
      );
  const keygen = (file: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', file]);
  keygen(join(dir, 'client_key'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
  const knownHosts: string[] = [];
  const started: number[] = [];
  for (const h of hosts) {
    mkdirSync(hostDir(h), { recursive: true });
    keygen(join(hostDir(h), 'host_key'));
    knownHosts.push(`${h.address} ${readFileSync(join(hostDir(h), 'host_key.pub'), 'utf8').trim()}`);
    const config = join(hostDir(h), 'sshd_config');
    writeFileSync(config, sshdConfig(dir, h, hostDir(h)));
    const log = openSync(join(hostDir(h), 'sshd.log'), 'a');
    const child = spawn('unshare', ['--pid', '--fork', '--kill-child=KILL', '--mount-proc', '--mount', '--uts', '--propagation', 'private', 'sh', '-c', hostScript(h.name, config)], {
      cwd: hostDir(h),
      detached: true,
      stdio: ['ignore', log, log],
    });
    child.unref();
    writeFileSync(join(hostDir(h), 'namespace.pid'), String(child.pid));
    started.push(child.pid!);
  }
  writeFileSync(join(dir, 'known_hosts'), knownHosts.join('\n') + '\n');
  writeFileSync(join(dir, 'fleet.json'), JSON.stringify({ hosts, namespaces: started }, null, 2) + '\n');
  const sshConfig = join(dir, 'ssh_config');
  writeFileSync(sshConfig, clientConfig(dir, hosts));

  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    stopNamespaces(started);
    rmSync(dir, { recursive: true, force: true });
    owned?.release();
  };
  const deadline = Date.now() + 10_000;
  for (const h of hosts) {
    while (!(await listening(h.address))) {
      if (Date.now() > deadline) {
        const log = readFileSync(join(hostDir(h), 'sshd.log'), 'utf8').trim().split('\n').slice(-5).join(' | ');
        stop();
        throw new Error(`sshd test host ${h.name} (${h.address}:22) did not start in 10 s: ${log || 'no output'}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return {
    hosts,
    sshConfig,
    ssh: (name, command) => {
      const r = spawnSync('ssh', ['-F', sshConfig, name, command], { encoding: 'utf8', timeout: 30_000 });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    stop,
  };
}
