import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appSecrets, EVENT_ROWS, sandboxDown, sandboxUp } from '../../examples/creationhub/sandbox.js';
import type { SandboxState } from '../../examples/creationhub/state.js';
import { freePort } from '../../tools/pg-cluster.js';
import { repoRoot } from '../support/cli.js';
import { crontabText, withCrontab } from '../support/crontab.js';
import { appHashes, cronCommand, httpGet as get, phase1Sandbox } from '../support/phase1-sandbox.js';

const runbook = join(repoRoot, 'runbooks', 'phase1.yaml');
let sandbox: SandboxState;
/** Every CLI output of this file, checked for secrets at the end. */
const outputs: string[] = [];
const { health, sandboxVars, cli, backups, backupLog, dumps } = phase1Sandbox(() => sandbox, outputs);

const dbUrl = (db: string) => sandbox.db.url.replace(/\/[^/]+$/, `/${db}`);

function psql(db: string, sql: string): string {
  return execFileSync(join(sandbox.db.binDir, 'psql'), ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', dbUrl(db), '-c', sql], { encoding: 'utf8' }).trim();
}

function dbDump(db = sandbox.db.name): string {
  const dump = execFileSync(join(sandbox.db.binDir, 'pg_dump'), ['--no-owner', '--dbname', dbUrl(db)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  // pg_dump writes a random \restrict key per dump; everything else is the data.
  return dump.replace(/^\\(un)?restrict .*$/gm, '');
}

/** Runs the cron command as cron would: /bin/sh, a bare environment. */
function runAsCron(command: string): { code: number | null; stderr: string } {
  const r = spawnSync('/bin/sh', ['-c', command], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8', cwd: tmpdir() });
  return { code: r.status, stderr: r.stderr };
}

const mode = (path: string) => statSync(path).mode & 0o777;

beforeAll(async () => {
  process.env.API_PORT = String(await freePort());
  process.env.DASHBOARD_PORT = String(await freePort());
  sandbox = await sandboxUp(mkdtempSync(join(tmpdir(), 'runbook-sandbox-')), { throwaway: true });
});
afterAll(async () => {
  if (sandbox) await sandboxDown(sandbox.stateDir);
});

describe("the seed's Phase 1 on the CreationHub sandbox", () => {
  it('applies all four changes for real, the cron command makes a complete dump that restores into an empty database, rollback restores everything', async () => {
    await withCrontab(async () => {
      const files = appHashes(sandbox.appDir);
      const crontab = crontabText();
      const rows = dbDump();

      const apply = cli(['apply', runbook]);
      expect(apply.stderr).toBe('');
      expect(apply.code).toBe(0);
      for (const id of ['auto-backups', 'db-pool', 'env-validation', 'frontend-polling']) expect(apply.stdout).toContain(`✔ ${id} applied and verified`);
      // The seed's step 3 after every change: API, dashboard, API log.
      for (const check of ['API available: /health answers ok', 'Dashboard works: the page contains CreationHub', 'No errors in the API log since its last start']) {
        expect(apply.stdout.split('\n').filter((l) => l.includes(check) && /\bok\b/.test(l))).toHaveLength(4);
      }
      expect((await health()).pool).toMatchObject({ max: 10, idleTimeoutMillis: 30000, connectionTimeoutMillis: 2000 });
      expect(await get(`http://127.0.0.1:${sandbox.dashboardPort}/components/SystemStats.js`)).toContain('POLL_INTERVAL = 5000');
      // The page polls this sandbox's API, not whatever listens on the seed's 9191.
      expect(await get(`http://127.0.0.1:${sandbox.dashboardPort}/`)).toContain(`<body data-api-port="${sandbox.apiPort}">`);

      // The installed cron command, run by hand, makes a complete dump that restores into an empty database.
      const command = cronCommand();
      outputs.push(crontabText().text);
      const before = new Set(dumps());
      await sleep(1100);
      expect(runAsCron(command)).toEqual({ code: 0, stderr: '' });
      const fresh = dumps().filter((f) => !before.has(f));
      expect(fresh).toHaveLength(1);
      const dump = join(backups(), fresh[0]!);
      execFileSync('gzip', ['-t', dump]);
      // Big enough that a check reading it through `zcat | grep -q` under pipefail dies of SIGPIPE.
      expect(Number(execFileSync('/bin/sh', ['-c', 'gzip -dc "$1" | wc -c', 'sh', dump], { encoding: 'utf8' }))).toBeGreaterThan(4_000_000);
      psql('postgres', 'create database restored');
      try {
        execFileSync('/bin/sh', ['-c', 'gzip -dc "$1" | "$2" -X -q -v ON_ERROR_STOP=1 -d "$3" > /dev/null', 'sh', dump, join(sandbox.db.binDir, 'psql'), dbUrl('restored')]);
        expect(psql('restored', 'select (select count(*) from projects) || \' \' || (select count(*) from events)')).toBe(`25 ${EVENT_ROWS}`);
      } finally {
        psql('postgres', 'drop database restored');
      }
      expect(backupLog()).toContain(`backup ok: backups/auto/${fresh[0]} (`);
      // Dumps hold all the data: owner only, like the log, the lock and the directory.
      for (const f of [...dumps(), 'backup.log', '.backup.lock']) expect(mode(join(backups(), f)).toString(8)).toBe('600');
      expect(mode(backups()).toString(8)).toBe('700');

      const status = cli(['status', runbook]);
      expect(status.stdout.match(/— verified/g)).toHaveLength(4);

      const rollback = cli(['rollback', runbook]);
      expect(rollback.code).toBe(0);
      expect(appHashes(sandbox.appDir)).toEqual(files);
      expect(crontabText()).toEqual(crontab);
      expect(dbDump()).toEqual(rows);
      const after = await health();
      expect(after.status).toBe('ok');
      expect(after.pool.connectionTimeoutMillis).toBeUndefined();
      expect(cli(['rollback', runbook]).stdout).toMatch(/nothing to roll back/);
    });
  });

  it('the installed backup deletes only backups/auto/*.sql.gz older than 30 days, clears a killed run\'s .tmp, refuses a concurrent run, never evaluates .env, and logs why pg_dump failed', async () => {
    await withCrontab(async () => {
      expect(cli(['apply', runbook, '--only', 'auto-backups']).code).toBe(0);
      const command = cronCommand();
      const dir = backups();
      const daysAgo = (file: string, days: number) => {
        writeFileSync(file, 'x');
        const t = Date.now() / 1000 - days * 86400;
        utimesSync(file, t, t);
      };
      daysAgo(join(dir, 'creationhub-31-days.sql.gz'), 31);
      daysAgo(join(dir, 'creationhub-29-days.sql.gz'), 29);
      daysAgo(join(dir, 'notes-40-days.txt'), 40);
      mkdirSync(join(dir, 'manual'), { recursive: true });
      daysAgo(join(dir, 'manual', 'kept-40-days.sql.gz'), 40);
      writeFileSync(join(dir, 'creationhub-20250101-030000.sql.gz.tmp'), 'half a dump');

      // A .env that would run commands or abort if it were sourced as shell code.
      const envFile = join(sandbox.appDir, '.env');
      const env = readFileSync(envFile);
      writeFileSync(envFile, `${env.toString()}JWT_EXTRA=abc;touch PWNED\nPASSWORD_WITH_SPACE=pa ss\nDOLLAR=ab$cd9\n`);
      try {
        expect(runAsCron(command)).toEqual({ code: 0, stderr: '' });
      } finally {
        writeFileSync(envFile, env);
      }
      expect(existsSync(join(sandbox.appDir, 'PWNED'))).toBe(false);
      expect(existsSync(join(tmpdir(), 'PWNED'))).toBe(false);
      expect(backupLog()).toMatch(/deleted dumps older than 30 days: backups\/auto\/creationhub-31-days\.sql\.gz\n/);
      const left = readdirSync(dir);
      expect(left).not.toContain('creationhub-31-days.sql.gz');
      expect(left).not.toContain('creationhub-20250101-030000.sql.gz.tmp');
      expect(left).toEqual(expect.arrayContaining(['creationhub-29-days.sql.gz', 'notes-40-days.txt', 'manual']));
      expect(existsSync(join(dir, 'manual', 'kept-40-days.sql.gz'))).toBe(true);

      // A second run while one holds the lock: refused, logged, non-zero so cron mails it.
      // flock -o: the lock is held by flock itself, so killing its process group frees it.
      const lock = join(dir, '.backup.lock');
      const holder = spawn('flock', ['-o', lock, 'sleep', '30'], { stdio: 'ignore', detached: true });
      try {
        for (let i = 0; i < 100 && spawnSync('flock', ['-n', lock, 'true']).status === 0; i++) await sleep(50);
        const count = dumps().length;
        const concurrent = runAsCron(command);
        expect(concurrent.code).toBe(1);
        expect(concurrent.stderr).toContain('another backup is still running');
        expect(backupLog()).toMatch(/ERROR: another backup is still running .*\n$/);
        expect(dumps()).toHaveLength(count);
      } finally {
        process.kill(-holder.pid!, 'SIGKILL');
      }

      // pg_dump fails (the password changed): the reason is in the log, no partial dump is left.
      const passFile = sandbox.db.passFile;
      const pass = readFileSync(passFile);
      writeFileSync(passFile, pass.toString().replace(/:[^:\n]*\n$/, ':wrong-password\n'));
      try {
        const count = dumps().length;
        const failed = runAsCron(command);
        expect(failed.code).toBe(1);
        expect(backupLog()).toMatch(/ERROR: backup FAILED: pg_dump exit 1, gzip exit 0: pg_dump: error: .*password authentication failed for user "postgres"/);
        expect(dumps()).toHaveLength(count);
        expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      } finally {
        writeFileSync(passFile, pass);
      }
      expect(cli(['rollback', runbook]).code).toBe(0);
    });
  });

  it('a ready check that cannot run fails change 1 and is logged as an error; PostgreSQL not ready is a logged skip, and an older dump does not pass the verify', async () => {
    await withCrontab(async () => {
      const files = appHashes(sandbox.appDir);
      const crontab = crontabText();
      expect(dumps().length).toBeGreaterThan(0);

      const broken = cli(['apply', runbook, '--var', 'pg_ready_cmd=/nonexistent/docker exec creationhub_postgres pg_isready -U postgres']);
      expect(broken.code).toBe(1);
      expect(broken.stdout).toMatch(/failed:\s+auto-backups, verify step "A backup run now/);
      expect(broken.stdout).toContain('cannot run the PostgreSQL ready check (exit 127');
      expect(backupLog()).toMatch(/ERROR: cannot run the PostgreSQL ready check \(exit 127: .*No such file or directory\)\n$/);

      const port = await freePort();
      const notReady = cli(['apply', runbook, '--var', `pg_ready_cmd=${join(sandbox.db.binDir, 'pg_isready')} -h 127.0.0.1 -p ${port} -U postgres`]);
      expect(notReady.code).toBe(1);
      expect(notReady.stdout).toContain('this run made no dump');
      expect(backupLog()).toMatch(new RegExp(`PostgreSQL not ready, skipping \\(exit 2: 127\\.0\\.0\\.1:${port} - no response\\)\\n$`));

      expect(appHashes(sandbox.appDir)).toEqual(files);
      expect(crontabText()).toEqual(crontab);
    });
  });

  it('preflight checks the pg_dump the backup will run: a broken one stops the apply before anything changes', async () => {
    await withCrontab(async () => {
      const files = appHashes(sandbox.appDir);
      const vars = sandboxVars();
      const apply = cli(['apply', runbook, '--verbose', '--var', `pg_dump_cmd=${vars.pg_dump_cmd!.replace(/ creationhub$/, ' no_such_database')}`]);
      expect(apply.code).toBe(1);
      expect(apply.stdout).toMatch(/pg_dump available .* FAILED/);
      expect(apply.stdout + apply.stderr).toContain('database "no_such_database" does not exist');
      expect(apply.stdout + apply.stderr).toMatch(/preflight: 1 check failed — nothing was changed/);
      expect(appHashes(sandbox.appDir)).toEqual(files);
    });
  });

  it('a fault in change 3 (the API cannot start without POSTGRES_PASSWORD) rolls back 3, 2, 1; then a normal apply succeeds (the FATAL before the restart does not count)', async () => {
    await withCrontab(async () => {
      const files = appHashes(sandbox.appDir);
      const crontab = crontabText();
      const rows = dbDump();
      const rebuild = sandboxVars().rebuild_api!;

      const drill = cli(['apply', runbook, '--var', `rebuild_api=SANDBOX_DROP_ENV=POSTGRES_PASSWORD ${rebuild}`]);
      expect(drill.code).toBe(1);
      expect(drill.stdout).toMatch(/failed:\s+env-validation, apply step "Rebuild and restart system-api"/);
      expect(drill.stdout).toContain('FATAL: missing required environment variables: POSTGRES_PASSWORD');
      expect(drill.stdout).toMatch(/rolled back:\s+1\. auto-backups, 2\. db-pool, 3\. env-validation/);
      expect(drill.stdout).toContain('still applied: nothing');
      expect(appHashes(sandbox.appDir)).toEqual(files);
      expect(crontabText()).toEqual(crontab);
      expect(dbDump()).toEqual(rows);
      expect((await health()).status).toBe('ok');
      expect(spawnSync('git', ['status', '--porcelain'], { cwd: sandbox.appDir, encoding: 'utf8' }).stdout).toBe('');
      expect(readFileSync(join(sandbox.runDir, 'system-api.log'), 'utf8')).toContain('FATAL: missing required environment variables');

      const apply = cli(['apply', runbook]);
      expect(apply.code).toBe(0);
      expect(apply.stdout).toContain('✔ frontend-polling applied and verified');
      expect(cli(['rollback', runbook]).code).toBe(0);
      expect(appHashes(sandbox.appDir)).toEqual(files);
      expect(crontabText()).toEqual(crontab);
    });
  });

  it('no secret (the database password, the JWT secret) appears in any output, the journal, the crontab line or backup.log', () => {
    const secrets = Object.values(appSecrets(sandbox));
    expect(secrets.every((s) => s.length >= 16)).toBe(true);
    const journal = readdirSync(join(sandbox.stateDir, 'runbook-state'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'));
    expect(journal.length).toBeGreaterThan(0);
    const written = [...outputs, ...journal, backupLog()];
    for (const secret of secrets) for (const text of written) expect(text).not.toContain(secret);
  });
});
