/**
 * Throwaway servers that tests and the demo start (PostgreSQL clusters, the sandbox's
 * services) never outlive the process that started them:
 * - each is recorded, with its owner (pid + start time), in a registry directory;
 * - when the owner ends for any reason it can see (normal end, an uncaught failure, SIGINT,
 *   SIGTERM, SIGHUP), it stops what it owns and removes its directories;
 * - what an owner killed with SIGKILL left behind is removed by the next process that starts
 *   one (sweepLeftovers): by the pids in its recorded pid files, and only processes whose
 *   working directory lies inside the recorded directories — never by a name.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';

interface ProcessId {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat): tells a reused pid apart. */
  started: string;
}

interface PidFile {
  /** A file whose first line is the pid (postmaster.pid, a service's pid file). */
  path: string;
  /** How to ask it to stop (SIGQUIT is PostgreSQL's immediate shutdown). */
  signal: NodeJS.Signals;
}

export interface ThrowawayRecord {
  what: string;
  owner: ProcessId;
  pidFiles: PidFile[];
  dirs: string[];
  /** Directories removed only when empty, deepest first (a Docker engine's cgroups). */
  emptyDirs?: string[];
}

const registry = join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), `runbook-throwaway-${process.getuid?.() ?? 'user'}`);
const recordPath = (dirs: string[]) => join(registry, `${createHash('sha256').update(dirs[0] ?? '').digest('hex').slice(0, 16)}.json`);

/** State letter and start time (clock ticks since boot) from /proc/PID/stat. */
function procStat(pid: number): { state: string; started: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', started: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

const hasProc = existsSync('/proc/self/stat');

/** Still running: a zombie (ended, not yet reaped by its parent) does not count. */
export function running(pid: number): boolean {
  if (!hasProc) return signal(pid, 0);
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

function alive(id: ProcessId): boolean {
  return running(id.pid) && (!hasProc || procStat(id.pid)?.started === id.started);
}

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function realOrSame(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** The pid in the file, if that process runs inside one of the dirs (so it is really ours). */
function ourPid(file: string, dirs: string[]): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  let cwd: string;
  try {
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
  return dirs.map(realOrSame).some((dir) => cwd === dir || cwd.startsWith(dir + sep)) ? pid : undefined;
}

function signal(pid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Mount points at or under one of the dirs (a Docker engine leaves its netns and overlay mounts), deepest first. */
export function mountsUnder(dirs: string[]): string[] {
  let table: string;
  try {
    table = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const roots = dirs.map(realOrSame);
  const points = table
    .split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point && roots.some((root) => point === root || point.startsWith(root + sep)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Unmounts what is mounted under the dirs (lazily: nothing of ours may still use it), so they can be removed. */
export function unmountUnder(dirs: string[]): void {
  for (const point of mountsUnder(dirs)) spawnSync('umount', ['-l', point], { stdio: 'ignore' });
}

/** Removes the directories that are empty, deepest first (rmdir: cgroup directories cannot be removed otherwise). */
export function removeEmptyDirs(dirs: string[]): void {
  for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
    try {
      rmdirSync(dir);
    } catch {
      // not empty, or gone
    }
  }
}

/** Stops the record's processes (its signal, then SIGKILL after 5 s) and removes its dirs. Synchronous: it runs in exit handlers. */
function stopRecorded(record: ThrowawayRecord): void {
  const pids = record.pidFiles.flatMap((f) => {
    const pid = ourPid(f.path, record.dirs);
    return pid !== undefined && signal(pid, f.signal) ? [pid] : [];
  });
  const deadline = Date.now() + 5_000;
  while (pids.some(running) && Date.now() < deadline) sleepSync(20);
  for (const pid of pids) signal(pid, 'SIGKILL');
  unmountUnder(record.dirs);
  for (const dir of record.dirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (error) {
      process.stderr.write(`warning: could not remove ${dir}: ${(error as Error).message}\n`);
    }
  }
  removeEmptyDirs(record.emptyDirs ?? []);
  rmSync(recordPath(record.dirs), { force: true });
}

const mine = new Map<string, ThrowawayRecord>();

function stopMine(): void {
  for (const [path, record] of mine) {
    mine.delete(path);
    stopRecorded(record);
  }
}

const atEnd = new Set<() => void>();

function runAtEnd(): void {
  for (const cleanup of [...atEnd].reverse()) {
    atEnd.delete(cleanup);
    try {
      cleanup();
    } catch (error) {
      process.stderr.write(`warning: cleanup at exit failed: ${(error as Error).message}\n`);
    }
  }
}

function onSignal(sig: NodeJS.Signals): void {
  runAtEnd();
  process.removeListener(sig, onSignal);
  // Nobody else handles it: end as the signal would have ended us.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

let hooked = false;
/**
 * Runs `cleanup` (synchronous) when this process ends for any reason it can see: normal end,
 * an uncaught failure, SIGINT, SIGTERM, SIGHUP — newest first. Returns the way to take it back.
 */
export function atProcessEnd(cleanup: () => void): () => void {
  if (!hooked) {
    hooked = true;
    process.once('exit', runAtEnd);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  }
  atEnd.add(cleanup);
  return () => void atEnd.delete(cleanup);
}

/**
 * Records `dirs` (and the processes in `pidFiles`) as owned by this process until release():
 * stopped and removed when this process ends, or by the next sweep if it is killed.
 */
export function ownThrowaway(what: string, dirs: string[], pidFiles: PidFile[], emptyDirs: string[] = []): { release(): void } {
  sweepLeftovers();
  const me = process.pid;
  const record: ThrowawayRecord = { what, owner: { pid: me, started: procStat(me)?.started ?? '' }, pidFiles, dirs, emptyDirs };
  const path = recordPath(dirs);
  mkdirSync(registry, { recursive: true, mode: 0o700 });
  writeFileSync(`${path}.tmp`, JSON.stringify(record));
  renameSync(`${path}.tmp`, path);
  mine.set(path, record);
  atProcessEnd(stopMine);
  return { release: () => releaseThrowaway(dirs) };
}

/** Its owner stopped it as planned: forget the record. */
export function releaseThrowaway(dirs: string[]): void {
  const path = recordPath(dirs);
  mine.delete(path);
  rmSync(path, { force: true });
}

let swept = false;
/** Removes what dead owners left (once per process). Says so on stderr, one line each. */
export function sweepLeftovers(): void {
  if (swept) return;
  swept = true;
  let names: string[];
  try {
    names = readdirSync(registry).filter((n) => n.endsWith('.json'));
  } catch {
    return;
  }
  for (const name of names) {
    let record: ThrowawayRecord;
    try {
      record = JSON.parse(readFileSync(join(registry, name), 'utf8')) as ThrowawayRecord;
    } catch {
      continue; // gone meanwhile (its owner released it)
    }
    if (alive(record.owner)) continue;
    stopRecorded(record);
    process.stderr.write(`removed ${record.what} left by process ${record.owner.pid}, which is gone (${record.dirs.join(', ')})\n`);
  }
}
