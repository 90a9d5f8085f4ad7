/**
 * A throwaway PostgreSQL cluster for tests, the sandbox and benchmarks: the machine's own
 * server binaries, a free port on 127.0.0.1, data and socket in a temp dir, fsync off.
 * initdb refuses to run as root, so as root the server runs as the `postgres` user.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownThrowaway, sweepLeftovers } from './throwaway.js';

export interface Cluster {
  host: string;
  port: number;
  user: string;
  password: string;
  socketDir: string;
  dataDir: string;
  binDir: string;
  /** postgres://user:password@127.0.0.1:port/db */
  url(db?: string): string;
  /** Environment for libpq tools (psql, pg_dump): PGHOST, PGPORT, PGUSER, PGPASSWORD. */
  env: Record<string, string>;
  createDatabase(name: string): void;
  /** Runs SQL through psql and returns its output (unaligned, tuples only). */
  psql(sql: string, db?: string): string;
  /** Stops the server at once (as a crash would), keeping its data: the database "goes away". */
  pause(): void;
  /** Starts it again on the same port with the same data. */
  resume(): void;
  stop(): void;
}

export function findPgBin(): string {
  const override = process.env.RUNBOOK_PG_BIN;
  if (override) return override;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a)) : [];
  if (!versions.length) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (install the "postgresql" package, or set RUNBOOK_PG_BIN)');
  return join(root, versions[0]!, 'bin');
}

const asRoot = process.getuid?.() === 0;

function runAsOwner(bin: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): void {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env: { ...process.env, ...opts.env } });
  if (r.status !== 0) throw new Error(`${bin.split('/').pop()} failed (exit ${r.status}): ${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-5).join(' | ')}`);
}

function chownToPostgres(path: string): void {
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', path]);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** An initdb'd data dir made once per machine and copied for each cluster (much faster). */
function templateDir(binDir: string, password: string): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const version = binDir.split('/').slice(-2, -1)[0] ?? 'x';
  const dir = join(base, `runbook-pg-template-${version}-v2`);
  if (existsSync(join(dir, 'PG_VERSION')) && existsSync(join(dir, '.password'))) return dir;
  const staging = mkdtempSync(join(base, 'runbook-pg-staging-'));
  chmodSync(staging, 0o755);
  chownToPostgres(staging);
  const pwfile = join(staging, '.pw');
  writeFileSync(pwfile, password);
  chownToPostgres(pwfile);
  const data = join(staging, 'data');
  runAsOwner(join(binDir, 'initdb'), ['-D', data, '-U', 'postgres', '--pwfile', pwfile, '-A', 'scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
  writeFileSync(join(data, '.password'), password);
  chownToPostgres(data);
  try {
    renameSync(data, dir);
  } catch {
    // Another process made it first: use theirs.
  }
  rmSync(staging, { recursive: true, force: true });
  return dir;
}

export interface StartOptions {
  /**
   * Where to keep data and socket. Default: a new temp dir, and the cluster is this process's
   * own (stopped and removed when it ends, however it ends: tools/throwaway.ts). With a baseDir
   * the caller decides how long the cluster lives.
   */
  baseDir?: string;
  port?: number;
}

export async function startCluster(options: StartOptions = {}): Promise<Cluster> {
  const binDir = findPgBin();
  sweepLeftovers();
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const template = templateDir(binDir, 'template-password');
  const base = options.baseDir ?? mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'runbook-pg-'));
  mkdirSync(base, { recursive: true });
  chmodSync(base, 0o755);
  const home = join(base, 'pg');
  mkdirSync(home, { recursive: true });
  chownToPostgres(home);
  const dataDir = join(home, 'data');
  const socketDir = join(home, 'socket');
  const owned = options.baseDir ? undefined : ownThrowaway('a throwaway PostgreSQL cluster', [base], [{ path: join(dataDir, 'postmaster.pid'), signal: 'SIGQUIT' }]);
  cpSync(template, dataDir, { recursive: true });
  mkdirSync(socketDir, { recursive: true });
  chmodSync(socketDir, 0o777);
  chmodSync(dataDir, 0o700);
  chownToPostgres(dataDir);
  chownToPostgres(socketDir);
  const port = options.port ?? (await freePort());
  const opts = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${socketDir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100`;
  const start = () => runAsOwner(join(binDir, 'pg_ctl'), ['-D', dataDir, '-o', opts, '-l', join(home, 'server.log'), '-w', '-t', '30', 'start']);
  start();
  const user = 'postgres';
  const env = { PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: user, PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' };
  const psqlAt = (sql: string, db = 'postgres', pw = 'template-password') =>
    execFileSync(join(binDir, 'psql'), ['-X', '-v', 'ON_ERROR_STOP=1', '-At', '-d', db, '-c', sql], { encoding: 'utf8', env: { ...process.env, ...env, PGPASSWORD: pw } });
  psqlAt(`ALTER USER postgres PASSWORD '${password}'`);
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    socketDir,
    dataDir,
    binDir,
    env,
    url: (db = 'postgres') => `postgres://${user}:${password}@127.0.0.1:${port}/${db}`,
    createDatabase: (name) => void psqlAt(`CREATE DATABASE "${name.replace(/"/g, '""')}"`, 'postgres', password),
    psql: (sql, db) => psqlAt(sql, db, password),
    pause: () => runAsOwner(join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']),
    resume: start,
    stop: () => {
      if (stopped) return;
      stopped = true;
      try {
        runAsOwner(join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already down
      }
      if (!options.baseDir) rmSync(base, { recursive: true, force: true });
      else rmSync(home, { recursive: true, force: true });
      owned?.release();
    },
  };
}

/** Stops a cluster started by another process (the sandbox's `down`). */
export function stopClusterAt(binDir: string, dataDir: string): void {
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
  runAsOwner(join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
}
