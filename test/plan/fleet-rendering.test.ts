import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';

const fleet = join(repoRoot, 'test', 'fixtures', 'fleet');
const web = join(fleet, 'web.yaml');
const phase1 = join(repoRoot, 'runbooks', 'phase1.yaml');

describe('plan of a runbook with hosts', () => {
  it('the table shows the hosts of each change, risk × hosts, and the rollout batches in order, canary first', () => {
    const r = runCli(['plan', web]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/│ № │ Change +│ Risk +│ Hosts +│ Risk × hosts │ Impact │/);
    expect(r.stdout).toMatch(/│ 1 │ Pool size on each web host +│ 🟡 3\/10 yellow │ web \(3\) +│ 3×3 = 9 +│/);
    expect(r.stdout).toMatch(/│ 2 │ A note on this machine +│ 🟢 0\/10 green +│ local +│ 0×1 = 0 +│/);
    expect(r.stdout).toMatch(/│ 3 │ Vacuum on the database and web hosts │ 🟡 2\/10 yellow │ db, web \(4\) │ 2×4 = 8 +│/);
    expect(r.stdout).toContain(
      [
        'Rollout: 4 hosts in 3 batches; stops at the first failed host; no pause between batches; exposure (risk × hosts) 17',
        '  1. web-1 (canary)',
        '  2. deploy@web-2, web-3',
        '  3. db-1',
      ].join('\n'),
    );
  });

  it('percentages, maxFailures and pause are shown as they apply to the targeted hosts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-fleet-render-'));
    const file = join(dir, 'runbook.yaml');
    writeFileSync(file, readFileSync(web, 'utf8').replace('rollout: { canary: 1, batch: 2, maxFailures: 0, pause: 0s }', 'rollout: { canary: 0, batch: "50%", maxFailures: "50%", pause: 30s }'));
    const r = runCli(['plan', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Rollout: 4 hosts in 2 batches; stops when more than 2 hosts fail; a pause of 30.0s between batches; exposure (risk × hosts) 17\n  1. web-1, deploy@web-2\n  2. web-3, db-1\n');
  });

  it('a change --limit leaves without hosts says so', () => {
    const r = runCli(['plan', web, '--limit', 'db']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/│ 1 │ Pool size on each web host +│ 🟡 3\/10 yellow │ web \(none: --limit\) │ 3×0 = 0 +│/);
    expect(r.stdout).toContain('  1. db-1 (canary)\n');
    expect(r.stdout).toContain('⚠ Change 1 (pool) has no hosts: --limit leaves none of web\n');
  });

  it('a change on an empty group says its group is empty', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-fleet-render-'));
    const file = join(dir, 'runbook.yaml');
    writeFileSync(file, readFileSync(web, 'utf8').replace('  db: [db-1]', '  db: []'));
    const r = runCli(['plan', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/│ 3 │ Vacuum on the database and web hosts │ 🟡 2\/10 yellow │ db, web \(3\) │/);
    const onlyDb = runCli(['plan', file, '--limit', '!web-1']);
    expect(onlyDb.stdout).toContain('│ db, web (2) │');
    writeFileSync(file, readFileSync(web, 'utf8').replace('  db: [db-1]', '  db: []').replace('on: [db, web]', 'on: db'));
    const empty = runCli(['plan', file]);
    expect(empty.stdout).toMatch(/│ db \(empty\) +│ 2×0 = 0 +│/);
    expect(empty.stdout).toContain('⚠ Change 3 (vacuum) has no hosts: its group db is empty\n');
  });

  it('apply refuses changes on hosts for now (exit 2): they must not run on the control node', () => {
    const r = runCli(['apply', web, '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('runbook: pool, vacuum run on hosts (on: web, db), which this version of runbook can plan and validate but not apply yet; nothing was run\n');
  });

  it('markdown carries the same: hosts and exposure in the risk table, a Rollout section, the hosts in the apply plan', () => {
    const r = runCli(['plan', web, '--format', 'markdown', '--limit', 'web']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('| № | Change | Risk | Hosts | Risk × hosts | Impact | Rollback | Verified by |');
    expect(r.stdout).toContain('| 1 | Pool size on each web host | 🟡 3/10 yellow | web (3) | 3×3 = 9 |');
    expect(r.stdout).toContain('## Rollout\n\n3 hosts in 2 batches; stops at the first failed host; no pause between batches. Exposure (risk × hosts): **15**.\n\n1. `web-1` (canary)\n2. `deploy@web-2, web-3`\n');
    expect(r.stdout).toContain('2. Apply 1. Pool size on each web host on web (3), then verify (1 check)');
    expect(r.stdout).toContain('**Runs on:** web — `web-1`, `deploy@web-2`, `web-3` (steps below as for `web-1`)\n');
  });

  it('JSON: per change its targets (host, checksum, steps), and a fleet object', () => {
    const r = runCli(['plan', web, '--format', 'json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      changes: { id: string; checksum: string; on?: string[]; exposure?: number; targets?: { host: string; checksum: string; apply: { label: string }[]; verify: unknown[]; rollback: { automatic: boolean } }[] }[];
      fleet: unknown;
    };
    const [pool, note, vacuum] = doc.changes;
    expect(pool!.on).toEqual(['web']);
    expect(pool!.exposure).toBe(9);
    expect(pool!.targets!.map((t) => [t.host, t.apply[0]!.label])).toEqual([
      ['web-1', 'ensure line in /etc/app/web-1.conf'],
      ['deploy@web-2', 'ensure line in /etc/app/deploy@web-2.conf'],
      ['web-3', 'ensure line in /etc/app/web-3.conf'],
    ]);
    expect(pool!.targets![0]!.checksum).toBe(pool!.checksum);
    expect(pool!.targets![0]!.rollback.automatic).toBe(true);
    expect(note).not.toHaveProperty('targets');
    expect(note).not.toHaveProperty('on');
    expect(vacuum!.targets!.map((t) => t.host)).toEqual(['web-1', 'deploy@web-2', 'web-3', 'db-1']);
    expect(doc.fleet).toEqual({
      hosts: ['web-1', 'deploy@web-2', 'web-3', 'db-1'].map((name) => ({ name, vars: {} })),
      batches: [['web-1'], ['deploy@web-2', 'web-3'], ['db-1']],
      maxFailures: 0,
      pause: 0,
      sshConfig: null,
      exposure: 17,
    });
  });

  it('a runbook without hosts renders as before: no hosts column, no rollout, no fleet in JSON', () => {
    const table = runCli(['plan', phase1]).stdout;
    expect(table).toMatch(/│ № │ Change +│ Risk +│ Impact +│ Rollback +│ Verified by +│/);
    expect(table).not.toMatch(/Hosts|Rollout|exposure/);
    expect(runCli(['plan', phase1, '--format', 'markdown']).stdout).not.toMatch(/Hosts|## Rollout|Exposure/);
    const json = JSON.parse(runCli(['plan', phase1, '--format', 'json']).stdout) as Record<string, unknown> & { changes: Record<string, unknown>[] };
    expect(json).not.toHaveProperty('fleet');
    for (const c of json.changes) for (const key of ['targets', 'on', 'exposure']) expect(c).not.toHaveProperty(key);
  });
});

describe('a saved plan of a runbook with hosts', () => {
  function sandbox() {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-fleet-saved-'));
    const runbook = join(dir, 'web.yaml');
    const inventory = join(dir, 'inventory.yaml');
    copyFileSync(web, runbook);
    copyFileSync(join(fleet, 'inventory.yaml'), inventory);
    return { dir, runbook, inventory, plan: join(dir, 'reviewed.plan.json') };
  }

  it('carries the targets, the fleet, the inventory and the --limit; show prints them', () => {
    const s = sandbox();
    const made = runCli(['plan', s.runbook, '--inventory', s.inventory, '--limit', 'web,!h4', '--out', s.plan]);
    expect(made.code).toBe(0);
    const saved = JSON.parse(readFileSync(s.plan, 'utf8')) as { inventory: { file: string; sha256: string }; limit: string; plan: { fleet: { batches: string[][] }; changes: { targets?: { host: string }[] }[] } };
    expect(saved.inventory.file).toBe(s.inventory);
    expect(saved.inventory.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(saved.limit).toBe('web,!h4');
    expect(saved.plan.fleet.batches).toEqual([['h1'], ['h2', 'deploy@h3']]);
    expect(saved.plan.changes[0]!.targets!.map((t) => t.host)).toEqual(['h1', 'h2', 'deploy@h3']);
    const shown = runCli(['show', s.plan]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`inventory ${s.inventory} sha256 [0-9a-f]{12}… \\(unchanged\\)`));
    expect(shown.stdout).toContain('--limit: web,!h4');
    expect(shown.stdout).toContain('  1. h1 (canary)\n  2. h2, deploy@h3\n');
  });

  it('apply PLAN targets the reviewed hosts: new host flags are refused, an edited inventory too', () => {
    const s = sandbox();
    expect(runCli(['plan', s.runbook, '--inventory', s.inventory, '--limit', 'web', '--out', s.plan]).code).toBe(0);
    // The saved plan's checks pass (whatever the apply then does with hosts).
    const same = runCli(['apply', s.plan, '--dry-run', '--state-dir', join(s.dir, 'state')]);
    expect(same.stderr).not.toMatch(/refusing|not accepted|changed since/);
    const flags = runCli(['apply', s.plan, '--limit', 'h1']);
    expect(flags.code).toBe(2);
    expect(flags.stderr).toMatch(/is a saved plan: its hosts are fixed in it \(inventory .*inventory\.yaml, limit web, ssh config none\); --limit is not accepted with it/);
    writeFileSync(s.inventory, readFileSync(s.inventory, 'utf8') + '  h5:\n');
    const edited = runCli(['apply', s.plan]);
    expect(edited.code).toBe(2);
    expect(edited.stderr).toMatch(/the inventory .*inventory\.yaml changed since: its sha256 digest differs/);
  });
});
