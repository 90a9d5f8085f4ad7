import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxDown, sandboxUp } from '../../examples/creationhub/sandbox.js';
import type { SandboxState } from '../../examples/creationhub/state.js';
import { freePort } from '../../tools/pg-cluster.js';
import { crontabText, withCrontab } from '../support/crontab.js';
import { repoRoot, runCli } from '../support/cli.js';

const runbook = join(repoRoot, 'runbooks', 'phase1.yaml');
let sandbox: SandboxState;

/** sha256 of every file of the app (not .git, not the backups it makes on purpose). */
function appHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const rel = relative(dir, p);
      if (rel === '.git' || rel === 'backups') continue;
      if (statSync(p).isDirectory()) walk(p);
      else out[rel] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

function dbDump(db = sandbox.db.name): string {
  const dump = execFileSync(join(sandbox.db.binDir, 'pg_dump'), ['--no-owner', '--dbname', sandbox.db.url.replace(/\/[^/]+$/, `/${db}`)], { encoding: 'utf8' });
  // pg_dump writes a random \restrict key per dump; everything else is the data.
  return dump.replace(/^\\(un)?restrict .*$/gm, '');
}

/** A plain GET on a fresh connection (the services restart, so no pooled keep-alive sockets). */
function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

async function health(): Promise<{ status: string; pool: Record<string, number | undefined> }> {
  return JSON.parse(await get(`http://127.0.0.1:${sandbox.apiPort}/health`)) as { status: string; pool: Record<string, number | undefined> };
}

function cli(args: string[]) {
  return runCli([...args, '--vars-file', join(sandbox.stateDir, 'vars.yaml'), '--state-dir', join(sandbox.stateDir, 'runbook-state')]);
}

beforeAll(async () => {
  process.env.API_PORT = String(await freePort());
  process.env.DASHBOARD_PORT = String(await freePort());
  sandbox = await sandboxUp(mkdtempSync(join(tmpdir(), 'runbook-sandbox-')));
});
afterAll(async () => {
  if (sandbox) await sandboxDown(sandbox.stateDir);
});

describe('the seed\'s Phase 1 on the CreationHub sandbox', () => {
  it('applies all four changes for real, then rollback restores everything; a second rollback is a no-op', async () => {
    await withCrontab(async () => {
      const files = appHashes(sandbox.appDir);
      const crontab = crontabText();
      const rows = dbDump();

      const apply = cli(['apply', runbook]);
      expect(apply.stderr).toBe('');
      expect(apply.code).toBe(0);
      for (const id of ['auto-backups', 'db-pool', 'env-validation', 'frontend-polling']) expect(apply.stdout).toContain(`✔ ${id} applied and verified`);
      expect((await health()).pool).toMatchObject({ max: 10, idleTimeoutMillis: 30000, connectionTimeoutMillis: 2000 });
      const component = await get(`http://127.0.0.1:${sandbox.dashboardPort}/components/SystemStats.js`);
      expect(component).toContain('POLL_INTERVAL = 5000');
      const entries = crontabText().text.split('\n').filter((l) => l.includes('runbook:auto-backups'));
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatch(/^0 3 \* \* \* /);

      // The installed cron command, run by hand, makes a dump that restores into an empty database.
      const command = entries[0]!.replace(/^(\S+\s+){5}/, '').replace(/ # runbook:auto-backups$/, '');
      const backups = join(sandbox.appDir, 'backups', 'auto');
      const before = new Set(readdirSync(backups));
      await new Promise((r) => setTimeout(r, 1100));
      execFileSync('/bin/sh', ['-c', command], { env: { PATH: process.env.PATH } });
      const fresh = readdirSync(backups).filter((f) => f.endsWith('.sql.gz') && !before.has(f));
      expect(fresh).toHaveLength(1);
      execFileSync('gzip', ['-t', join(backups, fresh[0]!)]);
      execFileSync(join(sandbox.db.binDir, 'psql'), ['-X', '-q', '-d', sandbox.db.url, '-c', 'create database restored'], { env: { ...process.env } });
      execFileSync('/bin/sh', ['-c', `gunzip -c "$1" | "$2" -X -q -v ON_ERROR_STOP=1 -d "$3" >/dev/null`, 'sh', join(backups, fresh[0]!), join(sandbox.db.binDir, 'psql'), sandbox.db.url.replace(/\/creationhub$/, '/restored')]);
      const count = execFileSync(join(sandbox.db.binDir, 'psql'), ['-X', '-At', '-d', sandbox.db.url.replace(/\/creationhub$/, '/restored'), '-c', 'select count(*) from projects']);
      expect(String(count).trim()).toBe('25');
      expect(readFileSync(join(backups, 'backup.log'), 'utf8')).toMatch(/backup ok/);

      const status = cli(['status', runbook]);
      expect(status.stdout.match(/— verified/g)).toHaveLength(4);

      const rollback = cli(['rollback', runbook]);
      expect(rollback.code).toBe(0);
      expect(appHashes(sandbox.appDir)).toEqual(files);
      expect(crontabText()).toEqual(crontab);
      execFileSync(join(sandbox.db.binDir, 'psql'), ['-X', '-q', '-d', sandbox.db.url, '-c', 'drop database restored']);
      expect(dbDump()).toEqual(rows);
      const after = await health();
      expect(after.status).toBe('ok');
      expect(after.pool.connectionTimeoutMillis).toBeUndefined();
      expect(cli(['rollback', runbook]).stdout).toMatch(/nothing to roll back/);
    });
  });

  it('a fault in change 3 (the API cannot start without POSTGRES_PASSWORD) rolls back 3, 2, 1: exit 1, files, crontab and database as before, API healthy', async () => {
    await withCrontab(async () => {
      const files = appHashes(sandbox.appDir);
      const crontab = crontabText();
      const rows = dbDump();
      const vars = readFileSync(join(sandbox.stateDir, 'vars.yaml'), 'utf8');
      const restart = JSON.parse(/^restart_api: (.*)$/m.exec(vars)![1]!) as string;

      const apply = cli(['apply', runbook, '--var', `restart_api=SANDBOX_DROP_ENV=POSTGRES_PASSWORD ${restart}`]);
      expect(apply.code).toBe(1);
      expect(apply.stdout).toMatch(/failed:\s+env-validation, apply step "Restart system-api"/);
      expect(apply.stdout).toContain('FATAL: missing required environment variables: POSTGRES_PASSWORD');
      expect(apply.stdout).toMatch(/rolled back:\s+1\. auto-backups, 2\. db-pool, 3\. env-validation/);
      expect(apply.stdout).toContain('still applied: nothing');
      expect(appHashes(sandbox.appDir)).toEqual(files);
      expect(crontabText()).toEqual(crontab);
      expect(dbDump()).toEqual(rows);
      expect((await health()).status).toBe('ok');
      expect(spawnSync('git', ['status', '--porcelain'], { cwd: sandbox.appDir, encoding: 'utf8' }).stdout).toBe('');
    });
  });
});
