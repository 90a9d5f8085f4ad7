import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { join, relative } from 'node:path';
import { expect } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { SandboxState } from '../../examples/creationhub/state.js';
import { runCli, type CliResult } from './cli.js';
import { crontabText } from './crontab.js';

/** sha256 of every file of the app (not .git, not the backups it makes on purpose). */
export function appHashes(dir: string): Record<string, string> {
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

/** A plain GET on a fresh connection (the services restart, so no pooled keep-alive sockets). */
export function httpGet(url: string): Promise<string> {
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

/** The command of the crontab's backup entry (there must be exactly one). */
export function cronCommand(): string {
  const entries = crontabText().text.split('\n').filter((l) => l.includes('runbook:auto-backups'));
  expect(entries).toHaveLength(1);
  expect(entries[0]).toMatch(/^0 3 \* \* \* /);
  return entries[0]!.replace(/^(\S+\s+){5}/, '').replace(/ # runbook:auto-backups$/, '');
}

/**
 * What the Phase 1 e2e tests ask of a running sandbox (Node or compose flavour): its API's
 * health, its vars, the CLI with its vars file and state dir (every output kept in `outputs`,
 * for the secret checks), and the backups the cron job made.
 */
export function phase1Sandbox(current: () => SandboxState, outputs: string[]) {
  const backups = () => join(current().appDir, 'backups', 'auto');
  return {
    health: async () => JSON.parse(await httpGet(`http://127.0.0.1:${current().apiPort}/health`)) as { status: string; pool: Record<string, number | undefined> },
    sandboxVars: () => parseYaml(readFileSync(join(current().stateDir, 'vars.yaml'), 'utf8')) as Record<string, string>,
    cli: (args: string[]): CliResult => {
      const dir = current().stateDir;
      const r = runCli([...args, '--vars-file', join(dir, 'vars.yaml'), '--state-dir', join(dir, 'runbook-state')]);
      outputs.push(r.stdout, r.stderr);
      return r;
    },
    backups,
    backupLog: () => readFileSync(join(backups(), 'backup.log'), 'utf8'),
    dumps: () => readdirSync(backups()).filter((f) => f.endsWith('.sql.gz')),
  };
}
