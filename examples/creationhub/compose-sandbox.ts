/**
 * The compose flavour of the sandbox (`npm run sandbox -- up --docker`): the seed's stack as a
 * real docker-compose project — PostgreSQL, system-api and the dashboard in containers — on a
 * Docker engine of the sandbox's own (tools/docker-engine.ts), with the same app checkout,
 * `.env`, data and checks as the Node sandbox. No registry is needed: the one base image is
 * made here by `docker import` of a skeleton root filesystem (users, a few directories), and
 * the services' Dockerfiles build FROM it, using the host's /usr (Node, PostgreSQL) mounted
 * read-only. Everything listens on 127.0.0.1 through host networking.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { findPgBin, freePort } from '../../tools/pg-cluster.js';
import { engineEmptyDirs, INSTALL_HINT, startEngine, stopEngineAt } from '../../tools/docker-engine.js';
import { ownThrowaway, releaseThrowaway } from '../../tools/throwaway.js';
import { appSecrets, git, port, SEED_SQL, sh } from './sandbox.js';
import { here, readState, repoRoot, type SandboxState } from './state.js';

const DB = 'creationhub';
export const BASE_IMAGE = 'creationhub-base:local';
/** Compose services and their containers (container_name in docker-compose.yml). */
export const CONTAINERS = { postgres: 'creationhub_postgres', 'system-api': 'creationhub_system_api', dashboard: 'creationhub_dashboard' } as const;
export type ComposeService = keyof typeof CONTAINERS;
/** uid/gid of the app's user inside the containers. */
const APP_ID = 1000;

function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, name)));
}

/** `docker compose` (the v2 plugin) when the docker CLI has it, else `docker-compose` (v1). */
export function detectCompose(env: NodeJS.ProcessEnv = process.env): string[] {
  if (spawnSync('docker', ['compose', 'version'], { env, stdio: 'ignore' }).status === 0) return ['docker', 'compose'];
  if (onPath('docker-compose')) return ['docker-compose'];
  throw new Error(`neither the docker compose plugin nor docker-compose is installed: ${INSTALL_HINT}`);
}

function idsOf(user: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  if (!line) throw new Error(`the host has no ${user} user (it owns the database files): apt-get install -y postgresql-common`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

const dockerEnv = (s: SandboxState): NodeJS.ProcessEnv => ({ ...process.env, DOCKER_HOST: s.docker!.host });

/** Runs a docker client command; a failure is one message with the tail of its output. */
function client(s: SandboxState, argv: string[], opts: { input?: string; cwd?: string } = {}): string {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd!, args, { cwd: opts.cwd ?? s.appDir, env: dockerEnv(s), input: opts.input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    const tail = `${r.stderr ?? ''}${r.stdout ?? ''}${r.error ? String(r.error) : ''}`.trim().split('\n').slice(-8).join('\n  ');
    throw new Error(`${argv.slice(0, 3).join(' ')} … failed (exit ${r.status}):\n  ${tail}`);
  }
  return r.stdout;
}

export const compose = (s: SandboxState, ...args: string[]) => client(s, [...s.docker!.compose, '--project-directory', s.appDir, ...args]);

/** The base image: a skeleton root filesystem (no binaries; /usr comes from the host, read-only). */
function importBaseImage(s: SandboxState, dir: string): void {
  const root = join(dir, 'base-rootfs');
  rmSync(root, { recursive: true, force: true });
  for (const d of ['etc', 'tmp', 'sbin', 'usr', 'run/postgresql', 'var/lib/postgresql', 'home/app', 'app', 'opt/node_modules', 'proc', 'sys', 'dev']) mkdirSync(join(root, d), { recursive: true });
  // Debian's merged /usr: /bin and /lib are links into /usr. /sbin stays a directory (docker puts docker-init there).
  for (const [link, target] of [['bin', 'usr/bin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64'], ['var/run', '../run']]) symlinkSync(target!, join(root, link!));
  chmodSync(join(root, 'tmp'), 0o1777);
  const pg = idsOf('postgres');
  writeFileSync(
    join(root, 'etc', 'passwd'),
    `root:x:0:0:root:/root:/bin/sh\npostgres:x:${pg.uid}:${pg.gid}:PostgreSQL:/var/lib/postgresql:/bin/sh\napp:x:${APP_ID}:${APP_ID}:CreationHub:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
  );
  writeFileSync(join(root, 'etc', 'group'), `root:x:0:\npostgres:x:${pg.gid}:\napp:x:${APP_ID}:\nnogroup:x:65534:\n`);
  writeFileSync(join(root, 'etc', 'nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  if (existsSync('/etc/ld.so.cache')) cpSync('/etc/ld.so.cache', join(root, 'etc', 'ld.so.cache'));
  chownSync(join(root, 'run', 'postgresql'), pg.uid, pg.gid);
  chownSync(join(root, 'var', 'lib', 'postgresql'), pg.uid, pg.gid);
  chownSync(join(root, 'home', 'app'), APP_ID, APP_ID);
  chownSync(join(root, 'app'), APP_ID, APP_ID);
  execFileSync('sh', ['-c', 'tar -C "$1" --numeric-owner -c . | docker import --message "CreationHub sandbox base: a skeleton root filesystem" - "$2"', 'sh', root, BASE_IMAGE], {
    env: dockerEnv(s),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  rmSync(root, { recursive: true, force: true });
}

/** docker-compose.override.yml: this machine's ports and paths (git-ignored). */
function overrideYaml(s: SandboxState, pgData: string): string {
  const q = JSON.stringify;
  return `# Written by "npm run sandbox -- up --docker" for this machine only (git-ignored): ports, and the
# host paths the containers mount read-only (/usr: Node and PostgreSQL; the repo's node_modules: pg).
version: "2.4"
services:
  postgres:
    environment:
      PGPORT: ${q(String(s.db.port))}
      PATH: ${q(`${s.db.binDir}:/usr/local/bin:/usr/bin:/bin`)}
    volumes:
      - "/usr:/usr:ro"
      - ${q(`${pgData}:/var/lib/postgresql/data`)}
  system-api:
    environment:
      API_PORT: ${q(String(s.apiPort))}
      NODE_PATH: /opt/node_modules
    volumes:
      - "/usr:/usr:ro"
      - ${q(`${s.nodeModules}:/opt/node_modules:ro`)}
  dashboard:
    environment:
      API_PORT: ${q(String(s.apiPort))}
      DASHBOARD_PORT: ${q(String(s.dashboardPort))}
    volumes:
      - "/usr:/usr:ro"
`;
}

/** A script that waits until containers are healthy; one that exits or turns unhealthy fails with its last log lines. */
function waitHealthyScript(host: string): string {
  return `#!/bin/bash
# wait-healthy CONTAINER...: waits (at most 60 s each) until every container is running and
# healthy. One that exits or turns unhealthy fails at once, with its last log lines.
export DOCKER_HOST=${sh(host)}
for c in "$@"; do
  s=""
  for _ in $(seq 1 240); do
    s=$(docker inspect --format '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c" 2>&1) || { echo "$c: $s"; exit 1; }
    case $s in
      "running healthy") echo "$c: healthy"; continue 2 ;;
      exited*|dead*)
        echo "$c: exited (exit code $(docker inspect --format '{{.State.ExitCode}}' "$c")); its last log lines:"
        docker logs --tail 20 "$c" 2>&1
        exit 1 ;;
      *unhealthy)
        echo "$c: unhealthy; its last log lines:"
        docker logs --tail 20 "$c" 2>&1
        exit 1 ;;
    esac
    sleep 0.25
  done
  echo "$c: not healthy after 60 s ($s); its last log lines:"
  docker logs --tail 20 "$c" 2>&1
  exit 1
done
`;
}

/**
 * Starts the compose sandbox in `dir`. `throwaway` (the demo, the tests): it belongs to this
 * process and is stopped and removed when the process ends, however it ends.
 */
export async function composeSandboxUp(dir: string, { throwaway = false } = {}): Promise<SandboxState> {
  if (readState(dir)) throw new Error(`a sandbox already exists in ${dir}; run "npm run sandbox -- down" first`);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const appDir = join(dir, 'app');
  const runDir = join(dir, 'run');
  mkdirSync(runDir, { recursive: true });
  if (throwaway) ownThrowaway('a throwaway compose sandbox', [dir], [{ path: join(dir, 'docker', 'docker.pid'), signal: 'SIGTERM' }], engineEmptyDirs(dir));
  const engine = await startEngine({ baseDir: dir });

  cpSync(join(here, 'template'), appDir, { recursive: true });
  cpSync(join(here, 'compose'), appDir, { recursive: true });
  writeFileSync(join(appDir, '.gitignore'), `${readFileSync(join(appDir, '.gitignore'), 'utf8')}docker-compose.override.yml\n`);
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const pgPort = await freePort();
  const pgData = join(dir, 'pgdata');
  mkdirSync(pgData, { mode: 0o700 });
  const pg = idsOf('postgres');
  chownSync(pgData, pg.uid, pg.gid);
  const url = `postgres://postgres:${password}@127.0.0.1:${pgPort}/${DB}`;
  writeFileSync(join(appDir, '.env'), `JWT_SECRET=${randomBytes(24).toString('hex')}\nPOSTGRES_URL=${url}\nPOSTGRES_PASSWORD=${password}\n`, { mode: 0o600 });
  const passFile = join(dir, 'pgpass');
  writeFileSync(passFile, `127.0.0.1:${pgPort}:*:postgres:${password}\n`, { mode: 0o600 });
  const waitHealthy = join(dir, 'bin', 'wait-healthy');
  mkdirSync(join(dir, 'bin'));
  writeFileSync(waitHealthy, waitHealthyScript(engine.host), { mode: 0o755 });

  const state: SandboxState = {
    stateDir: dir,
    appDir,
    runDir,
    nodeModules: join(repoRoot, 'node_modules'),
    apiPort: await port('API_PORT', 9191),
    dashboardPort: await port('DASHBOARD_PORT', 7777),
    db: { name: DB, url, port: pgPort, binDir: findPgBin(), dataDir: pgData, password, passFile },
    docker: { host: engine.host, compose: detectCompose({ ...process.env, DOCKER_HOST: engine.host }), waitHealthy },
  };
  writeFileSync(join(appDir, 'docker-compose.override.yml'), overrideYaml(state, pgData));
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: appDir });
  git(appDir, 'add', '-A');
  git(appDir, 'commit', '-q', '-m', 'CreationHub: current production state');
  writeFileSync(join(dir, 'sandbox.json'), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });

  importBaseImage(state, dir);
  compose(state, 'build', '-q');
  // The database: initdb in the postgres image (as postgres), then the password through psql's
  // stdin (never a command line), then the app's data.
  compose(state, 'run', '--rm', '-T', '--no-deps', 'postgres', 'initdb', '-D', '/var/lib/postgresql/data', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync', '--auth-local=trust', '--auth-host=scram-sha-256');
  compose(state, 'up', '-d', 'postgres');
  client(state, [waitHealthy, CONTAINERS.postgres]);
  const psqlIn = ['docker', 'exec', '-i', CONTAINERS.postgres, 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', 'postgres'];
  client(state, psqlIn, { input: `ALTER USER postgres PASSWORD '${password}';\nCREATE DATABASE ${DB};\n` });
  client(state, [...psqlIn, '-d', DB], { input: SEED_SQL });
  compose(state, 'up', '-d');
  client(state, [waitHealthy, ...Object.values(CONTAINERS)]);
  writeFileSync(join(dir, 'vars.yaml'), composeVarsYaml(state), { mode: 0o600 });
  return state;
}

/** The runbook's vars for the compose sandbox: the shape of runbooks/phase1.production.example.vars.yaml. */
export function composeVarsYaml(s: SandboxState): string {
  const d = s.docker!;
  const host = `DOCKER_HOST=${sh(d.host)}`;
  const composeCmd = `${host} ${d.compose.join(' ')} --project-directory ${sh(s.appDir)}`;
  const lines = {
    app_dir: s.appDir,
    api_url: `http://127.0.0.1:${s.apiPort}`,
    dashboard_url: `http://127.0.0.1:${s.dashboardPort}`,
    cron_user: userInfo().username,
    // The seed's rebuilds, then a wait until the container is healthy (a container that exits
    // at start fails the rebuild with its last log lines, instead of a minute of /health retries).
    rebuild_api: `${composeCmd} up -d --build system-api && ${sh(d.waitHealthy)} ${CONTAINERS['system-api']}`,
    rebuild_dashboard: `${composeCmd} up -d --build dashboard && ${sh(d.waitHealthy)} ${CONTAINERS.dashboard}`,
    pg_ready_cmd: `${host} docker exec ${CONTAINERS.postgres} pg_isready -U postgres`,
    pg_dump_cmd: `${host} docker exec ${CONTAINERS.postgres} pg_dump -U postgres ${s.db.name}`,
    psql_cmd: `${host} docker exec ${CONTAINERS.postgres} psql -U postgres ${s.db.name}`,
    // `{''{` is docker's `{{`, written so that runbook's own {{ }} templates leave it alone.
    api_logs_cmd: `export ${host}; since=$(docker inspect --format '{''{.State.StartedAt}}' ${CONTAINERS['system-api']}) && docker logs --since "$since" --tail 50 ${CONTAINERS['system-api']} 2>&1`,
    ...appSecrets(s),
  };
  return `# Generated by "npm run sandbox -- up --docker" for this sandbox only (it holds its secrets: mode 0600).\n${Object.entries(lines)
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join('\n')}\n`;
}

/**
 * A prefix for a compose command that adds a fault file to the project's two (COMPOSE_FILE,
 * read by docker compose and docker-compose alike). The drills' files are written by the sandbox.
 */
export function withFault(s: SandboxState, fault: 'no-postgres-password' | 'startup-task-exits'): string {
  const file = join(s.stateDir, 'faults', `${fault}.yml`);
  mkdirSync(join(s.stateDir, 'faults'), { recursive: true });
  const body =
    fault === 'no-postgres-password'
      ? // A compose file that forgot to pass the variable: it reaches the container empty.
        `version: "2.4"\nservices:\n  system-api:\n    environment:\n      POSTGRES_PASSWORD: ""\n`
      : // The API's start-up task (a migration run before the server) exits at start with an error; the server still comes up.
        `version: "2.4"\nservices:\n  system-api:\n    command: ["bash", "-c", "node -e \\"require('./migrations')\\"; exec node index.js"]\n`;
  writeFileSync(file, body);
  return `COMPOSE_FILE=${sh([join(s.appDir, 'docker-compose.yml'), join(s.appDir, 'docker-compose.override.yml'), file].join(':'))}`;
}

export async function composeSandboxDown(s: SandboxState): Promise<void> {
  try {
    compose(s, 'down', '--timeout', '5');
  } catch (error) {
    process.stderr.write(`warning: ${(error as Error).message}\n`);
  }
  stopEngineAt(s.stateDir);
  rmSync(s.stateDir, { recursive: true, force: true });
  releaseThrowaway([s.stateDir]);
}

/** `restart <service>`: docker compose restart, then wait until it is healthy again. */
export function composeRestart(s: SandboxState, service: ComposeService): void {
  compose(s, 'restart', service);
  client(s, [s.docker!.waitHealthy, CONTAINERS[service]]);
}

export function composeStatus(s: SandboxState): string {
  let ps: string;
  try {
    ps = compose(s, 'ps');
  } catch (error) {
    ps = (error as Error).message;
  }
  return [
    `sandbox (compose): ${s.stateDir}`,
    `  engine:     DOCKER_HOST=${s.docker!.host}`,
    `  app:        ${s.appDir} (git, docker-compose.yml)`,
    `  postgres:   127.0.0.1:${s.db.port}/${s.db.name}`,
    `  system-api: http://127.0.0.1:${s.apiPort}/health`,
    `  dashboard:  http://127.0.0.1:${s.dashboardPort}/`,
    ps.trimEnd().replace(/^/gm, '  '),
    `  vars:       ${join(s.stateDir, 'vars.yaml')}`,
  ].join('\n');
}
