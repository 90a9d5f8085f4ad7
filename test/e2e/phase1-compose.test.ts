/**
 * The seed's Phase 1 on the compose sandbox: a real Docker engine (the sandbox's own, started
 * here and stopped at the end), docker-compose, and the production vars' shape — `up -d
 * --build`, `docker exec … pg_dump|psql|pg_isready`, `docker logs --since`. No stand-in: if
 * the engine cannot start, beforeAll fails with one line naming it and the install command.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSandboxUp, CONTAINERS, withFault } from '../../examples/creationhub/compose-sandbox.js';
import { appSecrets, EVENT_ROWS, sandboxDown } from '../../examples/creationhub/sandbox.js';
import type { SandboxState } from '../../examples/creationhub/state.js';
import { composeStep } from '../../src/steps/compose.js';
import { freePort } from '../../tools/pg-cluster.js';
import { crontabText, withCrontab } from '../support/crontab.js';
import { appHashes, cronCommand, httpGet as get, phase1Sandbox } from '../support/phase1-sandbox.js';
import { repoRoot } from '../support/cli.js';
import { failure, stepCtx } from '../support/step-context.js';

const runbook = join(repoRoot, 'runbooks', 'phase1.yaml');
let sandbox: SandboxState;
const outputs: string[] = [];
const { health, sandboxVars, cli, backups, dumps } = phase1Sandbox(() => sandbox, outputs);

const dockerEnv = () => ({ ...process.env, DOCKER_HOST: sandbox.docker!.host });
function docker(...args: string[]): string {
  return execFileSync('docker', args, { env: dockerEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

/** SQL through psql inside the postgres container (as the production vars do). */
function psql(db: string, sql: string): string {
  return docker('exec', CONTAINERS.postgres, 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-U', 'postgres', '-d', db, '-c', sql).trim();
}

function dbDump(): string {
  return docker('exec', CONTAINERS.postgres, 'pg_dump', '-U', 'postgres', '--no-owner', sandbox.db.name).replace(/^\\(un)?restrict .*$/gm, '');
}

/** What each container runs: the image's id and the app files inside it. */
function running(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [service, container] of Object.entries(CONTAINERS)) {
    out[`${service} state`] = docker('inspect', '--format', '{{.State.Status}} {{.State.Health.Status}}', container).trim();
  }
  for (const file of ['system-api/index.js', 'system-api/auth.js']) out[file] = docker('exec', CONTAINERS['system-api'], 'cat', `/app/${file}`);
  for (const file of ['dashboard/src/components/SystemStats.js', 'dashboard/src/components/ServiceStatus.js']) out[file] = docker('exec', CONTAINERS.dashboard, 'cat', `/app/${file}`);
  return out;
}

beforeAll(async () => {
  process.env.API_PORT = String(await freePort());
  process.env.DASHBOARD_PORT = String(await freePort());
  try {
    sandbox = await composeSandboxUp(mkdtempSync(join(tmpdir(), 'runbook-sandbox-')), { throwaway: true });
  } catch (error) {
    // Never a skip: the file fails with the one line that names the component and the install command.
    const failed = new Error(`the compose sandbox cannot start: ${(error as Error).message}`);
    failed.stack = failed.message;
    throw failed;
  }
}, 180_000);
afterAll(async () => {
  if (sandbox) await sandboxDown(sandbox.stateDir);
});

// Each apply and rollback rebuilds and restarts containers: minutes on a loaded machine.
describe("the seed's Phase 1 on the compose sandbox (a real Docker engine)", { timeout: 300_000 }, () => {
  it('applies all four changes for real (the cron job runs docker exec … pg_dump, the dump restores into an empty database); rollback restores the app, the crontab, /health and containers on the old code', async () => {
    await withCrontab(async () => {
      const files = appHashes(sandbox.appDir);
      const crontab = crontabText();
      const rows = dbDump();
      const before = running();
      const healthBefore = await health();
      expect(before['system-api state']).toBe('running healthy');

      const apply = cli(['apply', runbook]);
      expect(apply.stderr).toBe('');
      expect(apply.code).toBe(0);
      for (const id of ['auto-backups', 'db-pool', 'env-validation', 'frontend-polling']) expect(apply.stdout).toContain(`✔ ${id} applied and verified`);
      expect((await health()).pool).toMatchObject({ max: 10, idleTimeoutMillis: 30000, connectionTimeoutMillis: 2000 });
      expect(await get(`http://127.0.0.1:${sandbox.dashboardPort}/components/SystemStats.js`)).toContain('POLL_INTERVAL = 5000');
      expect(await get(`http://127.0.0.1:${sandbox.dashboardPort}/components/ServiceStatus.js`)).toContain('POLL_INTERVAL = 5000');
      // The containers run the new code: --build really built it.
      const after = running();
      expect(after['system-api/index.js']).toContain('REQUIRED_ENV');
      expect(after['system-api/auth.js']).toContain('connectionTimeoutMillis: 2000');

      // The backup the cron job runs: docker exec … pg_dump inside the postgres container.
      expect(readFileSync(join(sandbox.appDir, 'scripts', 'backup.sh'), 'utf8')).toContain(`docker exec ${CONTAINERS.postgres} pg_dump -U postgres creationhub`);
      const command = cronCommand();
      outputs.push(crontabText().text);
      const seen = new Set(dumps());
      await sleep(1100);
      const cron = spawnSync('/bin/sh', ['-c', command], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8', cwd: tmpdir() });
      expect({ code: cron.status, stderr: cron.stderr }).toEqual({ code: 0, stderr: '' });
      const fresh = dumps().filter((f) => !seen.has(f));
      expect(fresh).toHaveLength(1);
      const dump = join(backups(), fresh[0]!);
      execFileSync('gzip', ['-t', dump]);
      psql('postgres', 'create database restored');
      try {
        execFileSync('/bin/sh', ['-c', 'gzip -dc "$1" | docker exec -i "$2" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d restored > /dev/null', 'sh', dump, CONTAINERS.postgres], { env: dockerEnv() });
        expect(psql('restored', "select (select count(*) from projects) || ' ' || (select count(*) from events)")).toBe(`25 ${EVENT_ROWS}`);
      } finally {
        psql('postgres', 'drop database restored');
      }

      const rollback = cli(['rollback', runbook]);
      expect(rollback.code).toBe(0);
      expect(appHashes(sandbox.appDir)).toEqual(files);
      expect(crontabText()).toEqual(crontab);
      expect(dbDump()).toEqual(rows);
      const healthAfter = await health();
      expect(healthAfter.status).toBe('ok');
      expect(healthAfter.pool).toEqual({ ...healthBefore.pool, total: healthAfter.pool.total, idle: healthAfter.pool.idle });
      expect(healthAfter.pool.connectionTimeoutMillis).toBeUndefined();
      // Containers running, healthy, on the old code, byte for byte.
      expect(running()).toEqual(before);
    });
  });

  it('a missing env var (change 3): the API container stops, change 3 fails, 3, 2, 1 are rolled back; the containers run the old code', async () => {
    await withCrontab(async () => {
      const files = appHashes(sandbox.appDir);
      const crontab = crontabText();
      const before = running();
      const drill = cli(['apply', runbook, '--var', `rebuild_api=${withFault(sandbox, 'no-postgres-password')} ${sandboxVars().rebuild_api!}`]);
      expect(drill.code).toBe(1);
      expect(drill.stdout).toMatch(/failed:\s+env-validation, apply step "Rebuild and restart system-api"/);
      expect(drill.stdout).toContain(`${CONTAINERS['system-api']}: exited (exit code 1)`);
      expect(drill.stdout).toContain('FATAL: missing required environment variables: POSTGRES_PASSWORD');
      expect(drill.stdout).toMatch(/rolled back:\s+1\. auto-backups, 2\. db-pool, 3\. env-validation/);
      expect(drill.stdout).toContain('still applied: nothing');
      expect(appHashes(sandbox.appDir)).toEqual(files);
      expect(crontabText()).toEqual(crontab);
      expect((await health()).status).toBe('ok');
      expect(running()).toEqual(before);
    });
  });

  it('a fault injected through compose (the API service\'s start-up task exits at start): verify fails on docker logs, rolled back, exit 1', async () => {
    await withCrontab(async () => {
      const files = appHashes(sandbox.appDir);
      const before = running();
      const faulty = cli(['apply', runbook, '--var', `rebuild_api=${withFault(sandbox, 'startup-task-exits')} ${sandboxVars().rebuild_api!}`]);
      expect(faulty.code).toBe(1);
      expect(faulty.stdout).toMatch(/failed:\s+db-pool, verify step "No errors in the API log since its last start/);
      expect(faulty.stdout).toContain("Error: Cannot find module './migrations'");
      expect(faulty.stdout).toMatch(/rolled back:\s+1\. auto-backups, 2\. db-pool/);
      expect(appHashes(sandbox.appDir)).toEqual(files);
      expect(running()).toEqual(before);
      // The rollback's rebuild ran with the same (faulty) vars, as a run's rollback does: the
      // fault file is the operator's to remove. The plain rebuild puts the project's own back.
      expect(docker('inspect', '--format', '{{json .Config.Cmd}}', CONTAINERS['system-api'])).toContain('migrations');
      execFileSync('/bin/sh', ['-c', sandboxVars().rebuild_api!], { stdio: 'ignore' });
      expect(docker('inspect', '--format', '{{json .Config.Cmd}}', CONTAINERS['system-api']).trim()).toBe('["node","index.js"]');
    });
  });

  it('the compose step against the real engine: docker-compose v1 is picked, a restart is quick (init: true, not the 10 s stop timeout); an unknown service and a stopped engine are one line each', async () => {
    const env = dockerEnv();
    const params = (raw: Record<string, unknown>) => composeStep.normalize!(raw as never);
    const started = Date.now();
    const r = await composeStep.run(params({ action: 'restart', services: ['dashboard'], dir: sandbox.appDir }), stepCtx(sandbox.appDir, { env }));
    expect(r.detail).toBe('done');
    // ~0.5 s here; a server that ignored SIGTERM would take docker's 10 s stop timeout. Loose for a loaded CI machine.
    expect(Date.now() - started).toBeLessThan(4000);
    const logs = stepCtx(sandbox.appDir, { env });
    await composeStep.run(params({ action: 'logs', services: ['system-api'], dir: sandbox.appDir, cli: 'docker-compose', tail: 5 }), logs);
    expect(logs.out.join('')).toContain(CONTAINERS['system-api']);
    const unknown = await failure(composeStep.run(params({ action: 'restart', services: ['nope'], dir: sandbox.appDir }), stepCtx(sandbox.appDir, { env })));
    expect(unknown.message).toBe('the compose project has no service "nope"');
    const down = await failure(composeStep.run(params({ action: 'restart', services: ['dashboard'], dir: sandbox.appDir }), stepCtx(sandbox.appDir, { env: { ...env, DOCKER_HOST: `unix://${join(sandbox.stateDir, 'no-engine.sock')}` } })));
    expect(down.message).toBe('the Docker engine is not running (cannot connect to the Docker daemon)');
    expect(down.outputTail).not.toContain('Traceback');
  });

  it('no secret (the database password, the JWT secret) appears in any output, the journal, the crontab line or backup.log', () => {
    const secrets = Object.values(appSecrets(sandbox));
    expect(secrets.every((s) => s.length >= 16)).toBe(true);
    const journal = readdirSync(join(sandbox.stateDir, 'runbook-state'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'));
    expect(journal.length).toBeGreaterThan(0);
    const written = [...outputs, ...journal, readFileSync(join(backups(), 'backup.log'), 'utf8'), readFileSync(join(sandbox.appDir, 'docker-compose.override.yml'), 'utf8')];
    for (const secret of secrets) for (const text of written) expect(text).not.toContain(secret);
  });
});
