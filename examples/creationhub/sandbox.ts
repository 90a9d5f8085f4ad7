/**
 * The CreationHub sandbox: `up | down | status | restart <service>`.
 * A throwaway PostgreSQL, system-api and the dashboard on 127.0.0.1, and a git checkout of
 * the app (from template/) for the Phase 1 runbook to change.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, startCluster, stopClusterAt } from '../../tools/pg-cluster.js';
import { ownThrowaway, releaseThrowaway } from '../../tools/throwaway.js';
import { composeRestart, composeSandboxDown, composeStatus, composeSandboxUp } from './compose-sandbox.js';
import { logFile, parseDotenv, SERVICES, servicePid, startMarker, startService, stopService, type ServiceName } from './services.js';
import { here, readState, repoRoot, stateDir, type SandboxState } from './state.js';

const DB = 'creationhub';
/** Rows in the events table: ~7 MB of dump text, ~3 MB gzipped. */
export const EVENT_ROWS = 80_000;

/** The app's data: 25 projects and EVENT_ROWS events. */
export const SEED_SQL = `create table projects (id serial primary key, name text not null, created_at timestamptz not null default now());
     insert into projects (name) select 'project ' || g from generate_series(1, 25) g;
     create table events (id bigserial primary key, project_id int not null references projects, kind text not null, payload text not null);
     insert into events (project_id, kind, payload)
       select 1 + g % 25, (array['build', 'deploy', 'login', 'backup'])[1 + g % 4], md5(g::text) || md5((g * 7)::text)
       from generate_series(1, ${EVENT_ROWS}) g;`;

export function git(dir: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.name=CreationHub', '-c', 'user.email=dev@creationhub.local', ...args], { cwd: dir, stdio: 'ignore' });
}

/** Whether nothing listens on 127.0.0.1:port (a bind test: no request is sent anywhere). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function port(envName: string, preferred: number): Promise<number> {
  if (process.env[envName]) return Number(process.env[envName]);
  // The seed's ports when free, otherwise any free one.
  return (await portFree(preferred)) ? preferred : freePort();
}

/**
 * Starts the sandbox in `dir`. `throwaway` (the demo, the tests): it belongs to this process and
 * is stopped and removed when the process ends, however it ends; otherwise it runs until `down`.
 */
export async function sandboxUp(dir = stateDir(), { throwaway = false } = {}): Promise<SandboxState> {
  if (readState(dir)) throw new Error(`a sandbox already exists in ${dir}; run "npm run sandbox -- down" first`);
  mkdirSync(dir, { recursive: true });
  const appDir = join(dir, 'app');
  const runDir = join(dir, 'run');
  mkdirSync(runDir, { recursive: true });
  if (throwaway) {
    const pidFiles = [join(dir, 'pg', 'data', 'postmaster.pid'), ...SERVICES.map((name) => join(runDir, `${name}.pid`))];
    ownThrowaway('a throwaway sandbox', [dir], pidFiles.map((path) => ({ path, signal: path.endsWith('postmaster.pid') ? 'SIGQUIT' : 'SIGTERM' })));
  }
  cpSync(join(here, 'template'), appDir, { recursive: true });

  const cluster = await startCluster({ baseDir: dir });
  cluster.createDatabase(DB);
  // A few MB of rows, like the seed's 17 MB database: big enough that a check reading the
  // dump through a pipe that closes early (zcat | grep -q) dies of SIGPIPE here as on production.
  cluster.psql(SEED_SQL, DB);
  const url = cluster.url(DB);
  writeFileSync(join(appDir, '.env'), `JWT_SECRET=${randomBytes(24).toString('hex')}\nPOSTGRES_URL=${url}\nPOSTGRES_PASSWORD=${cluster.password}\n`, { mode: 0o600 });
  // libpq's password file: the backup and the SQL checks authenticate without the password
  // ever being on a command line (ps) or in the runbook's vars.
  const passFile = join(dir, 'pgpass');
  writeFileSync(passFile, `127.0.0.1:${cluster.port}:*:${cluster.user}:${cluster.password.replace(/[\\:]/g, '\\$&')}\n`, { mode: 0o600 });
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: appDir });
  git(appDir, 'add', '-A');
  git(appDir, 'commit', '-q', '-m', 'CreationHub: current production state');

  const state: SandboxState = {
    stateDir: dir,
    appDir,
    runDir,
    nodeModules: join(repoRoot, 'node_modules'),
    apiPort: await port('API_PORT', 9191),
    dashboardPort: await port('DASHBOARD_PORT', 7777),
    db: { name: DB, url, port: cluster.port, binDir: cluster.binDir, dataDir: cluster.dataDir, password: cluster.password, passFile },
  };
  writeFileSync(join(dir, 'sandbox.json'), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  writeFileSync(join(dir, 'vars.yaml'), varsYaml(state), { mode: 0o600 });
  for (const name of SERVICES) await startService(state, name);
  return state;
}

/** A word for the shell, whatever it holds. */
export const sh = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** The app's .env as data (never evaluated). */
export function appSecrets(s: SandboxState): { POSTGRES_PASSWORD: string; JWT_SECRET: string } {
  const env = parseDotenv(readFileSync(join(s.appDir, '.env'), 'utf8'));
  return { POSTGRES_PASSWORD: env.POSTGRES_PASSWORD ?? '', JWT_SECRET: env.JWT_SECRET ?? '' };
}

/** The runbook's vars for this sandbox (the production equivalent: runbooks/phase1.production.example.vars.yaml). */
function varsYaml(s: SandboxState): string {
  const sandbox = `SANDBOX_DIR=${sh(s.stateDir)} ${sh(process.execPath)} ${sh(join(repoRoot, 'node_modules', 'tsx', 'dist', 'cli.mjs'))} ${sh(join(here, 'sandbox.ts'))}`;
  const libpq = (tool: string) => `PGPASSFILE=${sh(s.db.passFile)} ${sh(join(s.db.binDir, tool))} -w -h 127.0.0.1 -p ${s.db.port} -U postgres`;
  const lines = {
    app_dir: s.appDir,
    api_url: `http://127.0.0.1:${s.apiPort}`,
    dashboard_url: `http://127.0.0.1:${s.dashboardPort}`,
    cron_user: userInfo().username,
    psql_cmd: `${libpq('psql')} ${s.db.name}`,
    pg_ready_cmd: `${sh(join(s.db.binDir, 'pg_isready'))} -h 127.0.0.1 -p ${s.db.port} -U postgres -d ${s.db.name}`,
    pg_dump_cmd: `${libpq('pg_dump')} --no-owner ${s.db.name}`,
    rebuild_api: `${sandbox} restart system-api`,
    rebuild_dashboard: `${sandbox} restart dashboard`,
    // What the API logged since its last start (the lines after the last start marker), at most 50.
    api_logs_cmd: `awk '/^${startMarker('system-api')} / { n = 0 } { line[n++] = $0 } END { for (i = (n > 50 ? n - 50 : 0); i < n; i++) print line[i] }' ${sh(logFile(s, 'system-api'))}`,
    // Known to the engine only so that `secrets:` redacts them wherever they might show up.
    ...appSecrets(s),
  };
  return `# Generated by "npm run sandbox -- up" for this sandbox only (it holds its secrets: mode 0600).\n${Object.entries(lines)
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join('\n')}\n`;
}

export async function sandboxDown(dir = stateDir()): Promise<boolean> {
  const state = readState(dir);
  if (!state) {
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    return false;
  }
  if (state.docker) {
    await composeSandboxDown(state);
    return true;
  }
  for (const name of SERVICES) await stopService(state, name);
  try {
    stopClusterAt(state.db.binDir, state.db.dataDir);
  } catch (error) {
    process.stderr.write(`warning: ${(error as Error).message}\n`);
  }
  rmSync(dir, { recursive: true, force: true });
  releaseThrowaway([dir]);
  return true;
}

export async function restart(name: ServiceName | 'postgres', dir = stateDir()): Promise<void> {
  const state = readState(dir);
  if (!state) throw new Error(`no sandbox in ${dir}; run "npm run sandbox -- up"`);
  if (state.docker) return composeRestart(state, name);
  if (name === 'postgres') throw new Error('usage: sandbox restart system-api|dashboard (postgres only in the compose sandbox)');
  await stopService(state, name);
  await startService(state, name);
}

function status(dir = stateDir()): string {
  const s = readState(dir);
  if (!s) return `sandbox: down (${dir})`;
  if (s.docker) return composeStatus(s);
  const lines = [`sandbox: ${dir}`, `  app:        ${s.appDir} (git)`, `  postgres:   127.0.0.1:${s.db.port}/${s.db.name} ${existsSync(join(s.db.dataDir, 'postmaster.pid')) ? 'running' : 'STOPPED'}`];
  for (const name of SERVICES) {
    const pid = servicePid(s, name);
    lines.push(`  ${name.padEnd(11)} http://127.0.0.1:${name === 'system-api' ? `${s.apiPort}/health` : `${s.dashboardPort}/`} ${pid ? `running (pid ${pid})` : 'STOPPED'}`);
  }
  lines.push(`  vars:       ${join(dir, 'vars.yaml')}`);
  return lines.join('\n');
}

async function cli(argv: string[]): Promise<number> {
  const [command, arg] = argv;
  try {
    switch (command) {
      case 'up': {
        if (arg !== undefined && arg !== '--docker') throw new Error('usage: sandbox up [--docker]');
        if (arg === '--docker') {
          // The compose flavour needs the Docker engine and compose as well (npm run sandbox checked the rest).
          const pre = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'prerequisites.mjs'), 'compose'], { stdio: 'inherit' });
          if (pre.status !== 0) return pre.status ?? 2;
        }
        const started = Date.now();
        const s = arg === '--docker' ? await composeSandboxUp(stateDir()) : await sandboxUp();
        if (s.docker) process.stdout.write(`compose sandbox up in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
        process.stdout.write(`${status(s.stateDir)}\n\napply Phase 1 with:\n  npx runbook apply runbooks/phase1.yaml --vars-file ${join(s.stateDir, 'vars.yaml')}\n`);
        return 0;
      }
      case 'down':
        process.stdout.write((await sandboxDown()) ? 'sandbox stopped and removed\n' : 'no sandbox was running\n');
        return 0;
      case 'status':
        process.stdout.write(status() + '\n');
        return readState() ? 0 : 3;
      case 'restart': {
        if (arg !== 'system-api' && arg !== 'dashboard' && arg !== 'postgres') throw new Error('usage: sandbox restart system-api|dashboard|postgres');
        const started = Date.now();
        await restart(arg);
        process.stdout.write(`${arg} restarted in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
        return 0;
      }
      default:
        process.stderr.write('usage: npm run sandbox -- up [--docker] | down | status | restart <system-api|dashboard|postgres>\n');
        return 2;
    }
  } catch (error) {
    process.stderr.write(`sandbox: ${(error as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  cli(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
