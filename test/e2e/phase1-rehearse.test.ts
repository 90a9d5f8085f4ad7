import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxDown, sandboxUp } from '../../examples/creationhub/sandbox.js';
import type { SandboxState } from '../../examples/creationhub/state.js';
import { freePort } from '../../tools/pg-cluster.js';
import { repoRoot } from '../support/cli.js';
import { crontabText, withCrontab } from '../support/crontab.js';
import { appHashes, httpGet as get, phase1Sandbox } from '../support/phase1-sandbox.js';

const runbook = join(repoRoot, 'runbooks', 'phase1.yaml');
const ids = ['auto-backups', 'db-pool', 'env-validation', 'frontend-polling'];
let sandbox: SandboxState;
const outputs: string[] = [];
const { health, sandboxVars, cli } = phase1Sandbox(() => sandbox, outputs);

/** phase1.yaml with one edit, beside it (so the vars and the schema comment hold). */
function variant(name: string, edit: (text: string) => string): string {
  const text = readFileSync(runbook, 'utf8');
  const edited = edit(text);
  expect(edited).not.toBe(text);
  const file = join(repoRoot, 'runbooks', `.test-${name}-${process.pid}.yaml`);
  writeFileSync(file, edited);
  return file;
}

beforeAll(async () => {
  process.env.API_PORT = String(await freePort());
  process.env.DASHBOARD_PORT = String(await freePort());
  sandbox = await sandboxUp(mkdtempSync(join(tmpdir(), 'runbook-sandbox-')), { throwaway: true });
});
afterAll(async () => {
  if (sandbox) await sandboxDown(sandbox.stateDir);
});

describe("rollback rehearsal of the seed's Phase 1 on the CreationHub sandbox (apply --rehearse)", () => {
  it('rolls each change back, proves the app files and the crontab byte-identical and the rehearse checks passing, applies it again: the run ends applied, and plan shows the last rehearsal', async () => {
    await withCrontab(async () => {
      const files = appHashes(sandbox.appDir);
      const crontab = crontabText();

      const apply = cli(['apply', runbook, '--rehearse']);
      expect(apply.stderr).toBe('');
      expect(apply.code).toBe(0);
      for (const id of ids) {
        expect(apply.stdout).toContain(`↻ rehearsal of ${id} passed`);
        expect(apply.stdout).toContain(`↩ rolling back ${id} (rehearsal of ${id})`);
      }
      // The rehearse checks ran on the restored system: the default pool, the old polling interval.
      for (const check of ["/health reports pg's default pool again", 'Served components poll every 2000 ms again', 'No backup entry in the crontab any more']) {
        expect(apply.stdout.split('\n').some((l) => l.startsWith('[rehearse ') && l.includes(check) && /… ok /.test(l))).toBe(true);
      }
      expect(apply.stdout).toContain('rehearsed:    1. auto-backups, 2. db-pool, 3. env-validation, 4. frontend-polling');
      expect(apply.stdout).toContain('✅ all changes applied and verified');

      // Ends applied, as a plain apply would.
      expect((await health()).pool).toMatchObject({ max: 10, idleTimeoutMillis: 30000, connectionTimeoutMillis: 2000 });
      expect(await get(`http://127.0.0.1:${sandbox.dashboardPort}/components/SystemStats.js`)).toContain('POLL_INTERVAL = 5000');
      expect(crontabText().text.split('\n').filter((l) => l.includes('runbook:auto-backups'))).toHaveLength(1);
      const status = cli(['status', runbook]);
      expect(status.code).toBe(0);
      for (const id of ids) expect(status.stdout).toMatch(new RegExp(`${id}\\b.*verified`));

      const plan = cli(['plan', runbook]);
      expect(plan.code).toBe(0);
      expect(plan.stdout).toContain('Last rollback rehearsal (apply --rehearse):');
      for (const [i, id] of ids.entries()) expect(plan.stdout).toMatch(new RegExp(`${i + 1}\\. ${id} — passed: undo exact \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC \\(run `));

      // And a rollback afterwards restores everything, as after a plain apply.
      const rollback = cli(['rollback', runbook, '--yes']);
      expect(rollback.code).toBe(0);
      expect(appHashes(sandbox.appDir)).toEqual(files);
      expect(crontabText()).toEqual(crontab);
      expect((await health()).pool).toMatchObject({ max: 10, idleTimeoutMillis: 10000 });
    });
  });

  it('a written rollback that leaves a trailing newline fails the rehearsal with the diff, exit 1, and the system ends as before (files, crontab, services)', async () => {
    const sloppy = variant('sloppy-rollback', (t) => t.replace('to: "const POLL_INTERVAL = 2000;" } }\n      - name: ServiceStatus polls every 2000 ms again', 'to: "const POLL_INTERVAL = 2000;\\n" } }\n      - name: ServiceStatus polls every 2000 ms again'));
    try {
      await withCrontab(async () => {
        const files = appHashes(sandbox.appDir);
        const crontab = crontabText();

        const apply = cli(['apply', sloppy, '--rehearse']);
        expect(apply.code).toBe(1);
        for (const id of ids.slice(0, 3)) expect(apply.stdout).toContain(`↻ rehearsal of ${id} passed`);
        expect(apply.stdout).toContain('✖ rehearsal of frontend-polling FAILED: the rollback is not exact: 1 thing differs from before the apply');
        const file = join(sandbox.appDir, 'dashboard', 'src', 'components', 'SystemStats.js');
        // The diff: which file, and its first differing lines.
        expect(apply.stdout).toContain(`${file}: content differs:`);
        expect(apply.stdout).toMatch(/@@ line \d+ @@\n\s+\+ \(empty line\)\n/);
        expect(apply.stdout).toContain(`put back as before the apply, from the rehearsal's copy: ${file}`);
        expect(apply.stdout).toContain('failed:       frontend-polling, rehearse step "rehearsal: prove the undo exact"');
        expect(apply.stdout).toContain('↩ rolling back env-validation, db-pool, auto-backups (change frontend-polling failed in rehearse)');
        expect(apply.stdout).toContain('still applied: nothing — the system is as before this run');

        expect(appHashes(sandbox.appDir)).toEqual(files);
        expect(crontabText()).toEqual(crontab);
        expect((await health()).pool).toMatchObject({ max: 10, idleTimeoutMillis: 10000 });
        expect(await get(`http://127.0.0.1:${sandbox.dashboardPort}/components/SystemStats.js`)).toContain('POLL_INTERVAL = 2000');

        const plan = cli(['plan', sloppy]);
        expect(plan.stdout).toMatch(/4\. frontend-polling — FAILED .*: the rollback is not exact/);
        expect(plan.stdout).toMatch(/1\. auto-backups — passed: undo exact/);
      });
    } finally {
      rmSync(sloppy, { force: true });
    }
  });

  it('no secret (the database password, the JWT secret) appears in any output of the rehearsals', () => {
    const vars = sandboxVars();
    const secrets = [vars.POSTGRES_PASSWORD, vars.JWT_SECRET].filter((s): s is string => typeof s === 'string' && s.length > 0);
    expect(secrets).toHaveLength(2);
    for (const out of outputs) for (const s of secrets) expect(out).not.toContain(s);
  });
});
