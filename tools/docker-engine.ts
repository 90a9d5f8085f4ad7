/**
 * A throwaway Docker engine for the compose sandbox and the tests: the machine's own dockerd
 * (Debian's docker.io) with everything of its own under one directory — data root, exec root,
 * pid file, socket (clients use DOCKER_HOST=unix://…) — and nothing changed on the machine:
 * no bridge (--bridge=none: the default bridge would claim a private address range), no
 * iptables, no ip_forward; containers use host networking on 127.0.0.1. Stopped by its pid;
 * its mounts, cgroups and directory are removed (tools/throwaway.ts also does it when the
 * owner dies).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ownThrowaway, releaseThrowaway, removeEmptyDirs, unmountUnder } from './throwaway.js';

export const INSTALL_HINT = 'apt-get install -y docker.io docker-compose (npm test and npm run demo:compose install them: scripts/prerequisites.mjs)';

export interface DockerEngine {
  /** The directory holding all of the engine's state. */
  dir: string;
  socket: string;
  /** unix:///…/docker.sock, for DOCKER_HOST. */
  host: string;
  pid: number;
  /** The cgroup parent of its containers (a directory per cgroup controller, removed at the end). */
  cgroupParent: string;
}

const SYS_CGROUP = '/sys/fs/cgroup';

function findDockerd(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin'];
  return dirs.map((d) => join(d, 'dockerd')).find((p) => existsSync(p));
}

/** The cgroup directories (one per mounted controller) of a cgroup parent. */
function cgroupDirs(parent: string): string[] {
  if (!existsSync(SYS_CGROUP)) return [];
  return readdirSync(SYS_CGROUP).map((c) => join(SYS_CGROUP, c, parent));
}

const cgroupParentOf = (dir: string) => `runbook-docker-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`;

/**
 * What an engine in `<baseDir>/docker` leaves outside its directory, removed when empty: its
 * cgroups, and containerd's shim socket directory (a system containerd, if any, recreates it).
 */
export function engineEmptyDirs(baseDir: string): string[] {
  return [...cgroupDirs(cgroupParentOf(join(baseDir, 'docker'))), '/run/containerd/s', '/run/containerd'];
}

/** Answers GET /_ping on the socket. */
function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function lastLines(path: string, n = 5): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-n).join(' | ');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts a Docker engine in `<baseDir>/docker`. Without baseDir: in a new temp dir, owned by
 * this process (stopped and removed when it ends, however it ends). Throws one line naming the
 * component and the install command when dockerd is missing or does not come up.
 */
export async function startEngine(options: { baseDir?: string } = {}): Promise<DockerEngine> {
  const dockerd = findDockerd();
  if (!dockerd) throw new Error(`the Docker engine (dockerd) is not installed: ${INSTALL_HINT}`);
  if (process.getuid?.() !== 0) throw new Error('the Docker engine needs root (dockerd): run as root, or use the Node sandbox (npm run sandbox -- up)');
  const base = options.baseDir ?? mkdtempSync(join(tmpdir(), 'runbook-docker-'));
  const dir = join(base, 'docker');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socket = join(dir, 'docker.sock');
  const pidFile = join(dir, 'docker.pid');
  const cgroupParent = cgroupParentOf(dir);
  if (!options.baseDir) ownThrowaway('a throwaway Docker engine', [base], [{ path: pidFile, signal: 'SIGTERM' }], engineEmptyDirs(base));
  // Its own daemon.json: the machine's /etc/docker/daemon.json is not ours to read, and the
  // engine's key goes here instead of /etc/docker/key.json.
  writeFileSync(join(dir, 'daemon.json'), JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') }));
  const log = openSync(join(dir, 'dockerd.log'), 'a');
  const args = [
    `--data-root=${join(dir, 'data')}`,
    `--exec-root=${join(dir, 'exec')}`,
    `--pidfile=${pidFile}`,
    `--host=unix://${socket}`,
    `--config-file=${join(dir, 'daemon.json')}`,
    '--bridge=none',
    '--iptables=false',
    '--ip-forward=false',
    '--ip-masq=false',
    '--userland-proxy=false',
    '--storage-driver=overlay2',
    `--cgroup-parent=/${cgroupParent}`,
    '--log-level=warn',
  ];
  // Its working directory is the engine's dir: the throwaway sweep only signals a pid that runs there.
  const child = spawn(dockerd, args, { cwd: dir, detached: true, stdio: ['ignore', log, log], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  closeSync(log);
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  child.unref();
  const deadline = Date.now() + 30_000;
  while (!(await ping(socket))) {
    if (exited !== undefined || Date.now() > deadline) {
      const why = exited !== undefined ? `dockerd exited with code ${exited}` : 'dockerd did not answer within 30 s';
      const log = lastLines(join(dir, 'dockerd.log'), 2);
      stopEngineAt(base);
      throw new Error(`the Docker engine did not start (${why}: ${log}); it needs docker.io: ${INSTALL_HINT}`);
    }
    await sleep(50);
  }
  return { dir, socket, host: `unix://${socket}`, pid: child.pid!, cgroupParent };
}

function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Stops the engine of `<baseDir>/docker` by its pid (SIGTERM: it stops its containers and its
 * containerd; SIGKILL after 15 s), then unmounts what it left mounted (its netns), removes its
 * directory and its cgroups. Synchronous, idempotent. Returns whether an engine was running.
 */
export function stopEngineAt(baseDir: string): boolean {
  const dir = join(baseDir, 'docker');
  let pid: number | undefined;
  try {
    pid = Number(readFileSync(join(dir, 'docker.pid'), 'utf8').trim()) || undefined;
  } catch {
    pid = undefined;
  }
  const wasRunning = pid !== undefined && running(pid);
  if (wasRunning) {
    process.kill(pid!, 'SIGTERM');
    const deadline = Date.now() + 15_000;
    while (running(pid!) && Date.now() < deadline) sleepSync(20);
    if (running(pid!)) process.kill(pid!, 'SIGKILL');
  }
  unmountUnder([dir]);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  removeEmptyDirs(engineEmptyDirs(baseDir));
  return wasRunning;
}

/** Stops an engine startEngine made in its own temp dir and forgets the throwaway record. */
export function stopEngine(engine: DockerEngine): void {
  const base = join(engine.dir, '..');
  stopEngineAt(base);
  rmSync(base, { recursive: true, force: true });
  releaseThrowaway([base]);
}
