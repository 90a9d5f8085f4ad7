import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runbookCommand } from '../../src/cli/kit/next-command.js';
import { UsageError } from '../../src/model/diagnostic.js';
import type { Plan } from '../../src/model/plan.js';
import { fleetOf } from '../../src/plan/fleet.js';
import { loadPlan, type LoadPlanOptions } from '../../src/plan/load-plan.js';
import { repoRoot } from '../support/cli.js';

const fixtures = join(repoRoot, 'test', 'fixtures', 'fleet');

/** A runbook written to a temp dir (and any other files beside it), planned. */
function write(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-fleet-plan-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function runbook(hosts: string, rollout = '', extra = ''): string {
  return `runbook: 1
name: fleet
hosts:
${hosts}
${rollout}
changes:
  - id: conf
    title: Config line
    risk: 4
    on: web
    apply:
      - file: { path: "/etc/app/{{ host.name }}.conf", line: "x=1" }
${extra}`;
}

async function plan(text: string, options: LoadPlanOptions = {}, files: Record<string, string> = {}): Promise<Plan> {
  const dir = write({ 'runbook.yaml': text, ...files });
  const resolve = (f: string | undefined) => (f === undefined ? undefined : join(dir, f));
  return loadPlan(join(dir, 'runbook.yaml'), { ...options, inventory: resolve(options.inventory), sshConfig: resolve(options.sshConfig) });
}

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `h${i + 1}`);
const count = (c: number) => ({ count: c });

describe('the rollout of a fleet', () => {
  it('canary 1, batch 2 over 4 hosts: [[h1], [h2, h3], [h4]]', async () => {
    const p = await plan(runbook('  web: [h1, h2, h3, h4]', 'rollout: { canary: 1, batch: 2, maxFailures: 0, pause: 0s }'));
    expect(p.fleet!.batches).toEqual([['h1'], ['h2', 'h3'], ['h4']]);
    expect(p.fleet!.maxFailures).toBe(0);
    expect(p.fleet!.pause).toBe(0);
    expect(p.fleet!.hosts).toEqual(hosts(4).map((name) => ({ name, vars: {} })));
    expect(p.runbook.rollout).toEqual({ canary: count(1), batch: count(2), maxFailures: count(0), pause: 0 });
  });

  it('without rollout: one canary, then one host at a time, no failure tolerated, no pause', async () => {
    const p = await plan(runbook('  web: [h1, h2, h3]'));
    expect(p.runbook.rollout).toBeUndefined();
    expect(p.fleet).toEqual({ hosts: hosts(3).map((name) => ({ name, vars: {} })), batches: [['h1'], ['h2'], ['h3']], maxFailures: 0, pause: 0 });
  });

  it('percentages: canary and batch round up, maxFailures rounds down, of the targeted hosts', async () => {
    const p = await plan(runbook(`  web: [${hosts(10).join(', ')}]`, 'rollout: { canary: "10%", batch: "25%", maxFailures: "25%", pause: 1m30s }'));
    expect(p.runbook.rollout).toEqual({ canary: { percent: 10 }, batch: { percent: 25 }, maxFailures: { percent: 25 }, pause: 90_000 });
    expect(p.fleet!.batches).toEqual([['h1'], ['h2', 'h3', 'h4'], ['h5', 'h6', 'h7'], ['h8', 'h9', 'h10']]);
    expect(p.fleet!.maxFailures).toBe(2);
    expect(p.fleet!.pause).toBe(90_000);
    // Of the hosts left by --limit, not of every host.
    const limited = await plan(runbook(`  web: [${hosts(10).join(', ')}]`, 'rollout: { canary: "10%", batch: "25%", maxFailures: "25%" }'), { limit: 'h1,h2,h3,h4' });
    expect(limited.fleet!.batches).toEqual([['h1'], ['h2'], ['h3'], ['h4']]);
    expect(limited.fleet!.maxFailures).toBe(1);
  });

  it('edge cases: canary 0, a batch of 0% is one host, canary larger than the fleet, decimals', () => {
    const refs = hosts(5).map((name) => ({ name, vars: {} }));
    expect(fleetOf(refs, { canary: count(0), batch: count(2), maxFailures: count(0), pause: 0 }).batches).toEqual([['h1', 'h2'], ['h3', 'h4'], ['h5']]);
    expect(fleetOf(refs, { canary: count(0), batch: { percent: 0 }, maxFailures: count(0), pause: 0 }).batches).toEqual([['h1'], ['h2'], ['h3'], ['h4'], ['h5']]);
    expect(fleetOf(refs.slice(0, 2), { canary: count(3), batch: count(1), maxFailures: count(0), pause: 0 }).batches).toEqual([['h1', 'h2']]);
    expect(fleetOf(refs, { canary: { percent: 100 }, batch: count(1), maxFailures: { percent: 100 }, pause: 0 })).toMatchObject({ batches: [hosts(5)], maxFailures: 5 });
    const thirty = Array.from({ length: 30 }, (_, i) => ({ name: `h${i}`, vars: {} }));
    expect(fleetOf(thirty, { canary: { percent: 10 }, batch: count(100), maxFailures: { percent: 10 }, pause: 0 })).toMatchObject({ maxFailures: 3 });
    expect(fleetOf(thirty, { canary: { percent: 10 }, batch: count(100), maxFailures: count(0), pause: 0 }).batches[0]).toHaveLength(3);
    expect(fleetOf([], undefined).batches).toEqual([]);
  });
});

describe('the hosts of each change', () => {
  it('a change on hosts has one target per host, steps filled with host.name; local changes have none', async () => {
    const p = await loadPlan(join(fixtures, 'web.yaml'));
    const [pool, note, vacuum] = p.changes;
    expect(pool!.change.on).toEqual(['web']);
    expect(pool!.targets!.map((t) => t.host)).toEqual(['web-1', 'deploy@web-2', 'web-3']);
    expect(pool!.targets!.map((t) => (t.apply[0]!.params as { path: string }).path)).toEqual(['/etc/app/web-1.conf', '/etc/app/deploy@web-2.conf', '/etc/app/web-3.conf']);
    expect(new Set(pool!.targets!.map((t) => t.checksum)).size).toBe(3);
    // The top-level steps and checksum are the first target's, so renderers that know no hosts keep working.
    expect(pool!.apply).toEqual(pool!.targets![0]!.apply);
    expect(pool!.checksum).toBe(pool!.targets![0]!.checksum);
    expect(note!.change.on).toEqual(['local']);
    expect(note!.targets).toBeUndefined();
    // Targets follow the rollout's order, whatever the order of the groups in on:.
    expect(vacuum!.change.on).toEqual(['db', 'web']);
    expect(vacuum!.targets!.map((t) => t.host)).toEqual(['web-1', 'deploy@web-2', 'web-3', 'db-1']);
    expect(p.fleet!.hosts.map((h) => h.name)).toEqual(['web-1', 'deploy@web-2', 'web-3', 'db-1']);
    expect(p.fleet!.batches).toEqual([['web-1'], ['deploy@web-2', 'web-3'], ['db-1']]);
  });

  it('a runbook without hosts plans as before: no fleet, hosts {}, every change local', async () => {
    const p = await loadPlan(join(repoRoot, 'runbooks', 'phase1.yaml'));
    expect(p.fleet).toBeUndefined();
    expect(p.runbook.hosts).toEqual({});
    expect(p.changes.every((c) => c.targets === undefined && c.change.on.length === 1 && c.change.on[0] === 'local')).toBe(true);
  });

  it('a local change keeps the checksum it had before hosts existed (on is not part of it)', async () => {
    const text = (on: string) => `runbook: 1\nname: sum\nhosts: { web: [h1] }\nchanges:\n  - id: a\n    title: A\n    risk: 0\n${on}    apply:\n      - file: { path: x, content: y }\n`;
    const plain = await plan(text(''));
    const explicit = await plan(text('    on: local\n'));
    expect(explicit.changes[0]!.checksum).toBe(plain.changes[0]!.checksum);
    // What runs journaled before hosts existed still matches: phase1's checksums as the engine computed them then.
    const phase1 = await loadPlan(join(repoRoot, 'runbooks', 'phase1.yaml'), { env: {} });
    expect(phase1.changes.map((c) => c.checksum)).toEqual(['35ee94bafa66e923', 'c81222e40fce16f4', '93ec65b5322b9ae3', '849267b2d4d9b145']);
  });

  it('host vars from a map of hosts reach {{ host.vars.X }}; a host in two groups has the vars of both', async () => {
    const text = `runbook: 1
name: vars
hosts:
  web:
    h1: { port: "8081", role: web }
    h2:
  edge:
    h2: { port: "9092" }
changes:
  - id: conf
    title: Port
    risk: 1
    on: [web, edge]
    apply:
      - file: { path: "/etc/{{ host.name }}.conf", content: "port={{ host.vars.port }}" }
`;
    // Host vars are data: a "{{" in one is not a template (nor an unknown variable).
    const p = await plan(text.replace('role: web', 'role: "{{ web }}"'));
    expect(p.runbook.hosts.web![0]!.vars.role).toBe('{{ web }}');
    expect(p.changes[0]!.targets![0]!.apply[0]!.params).toMatchObject({ content: 'port=8081' });
    expect((await plan(text)).runbook.hosts).toEqual({ web: [{ name: 'h1', vars: { port: '8081', role: 'web' } }, { name: 'h2', vars: { port: '9092' } }], edge: [{ name: 'h2', vars: { port: '9092' } }] });
    expect(p.changes[0]!.targets!.map((t) => (t.apply[0]!.params as { content: string }).content)).toEqual(['port=8081', 'port=9092']);
  });

  it('a host var a host lacks is an error naming the host, at the template’s step', async () => {
    const text = `runbook: 1
name: vars
hosts:
  web: { h1: { port: "1" }, h2: null }
changes:
  - id: conf
    title: Port
    risk: 1
    on: web
    apply:
      - file: { path: "/etc/x.conf", content: "port={{ host.vars.port }}" }
`;
    await expect(plan(text)).rejects.toMatchObject({ diagnostics: [{ message: expect.stringMatching(/^on host h2: unknown variable "host\.vars\.port"/), pos: { line: 11, col: 9 } }] });
  });

  it('a host var is data in a run command: "x; touch /tmp/pwned" is one argument, never a command', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-fleet-inject-'));
    const pwned = join(dir, 'pwned');
    const text = `runbook: 1
name: inject
changes:
  - id: echo
    title: Echo
    risk: 0
    on: web
    apply:
      - run: "echo got {{ host.vars.x }} on {{ host.name }}"
    rollback: { none: test }
`;
    const inventory = `web:\n  h1: { x: "x; touch ${pwned}" }\n  h2: { x: "$(touch ${pwned})\`touch ${pwned}\`" }\n`;
    const p = await plan(text, { inventory: 'inventory.yaml' }, { 'inventory.yaml': inventory });
    for (const target of p.changes[0]!.targets!) {
      const step = target.apply[0]!;
      const command = (step.params as { command: string }).command;
      expect(command).toBe('echo got "${RUNBOOK_V1}" on "${RUNBOOK_V2}"');
      const r = spawnSync('bash', ['-c', command], { env: { PATH: process.env.PATH, ...step.env }, encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`got ${step.env!.RUNBOOK_V1} on ${target.host}\n`);
    }
    expect(existsSync(pwned)).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('--inventory, --limit, --ssh-config', () => {
  it('--inventory replaces hosts: entirely', async () => {
    const p = await loadPlan(join(fixtures, 'web.yaml'), { inventory: join(fixtures, 'inventory.yaml') });
    expect(Object.keys(p.runbook.hosts)).toEqual(['web', 'db']);
    expect(p.changes[0]!.targets!.map((t) => t.host)).toEqual(['h1', 'h2', 'deploy@h3', 'h4']);
    expect(p.runbook.hosts.web![0]).toEqual({ name: 'h1', vars: { port: '8081' } });
    expect(p.runbook.hosts.web![3]).toEqual({ name: 'h4', vars: {} });
    expect(p.fleet!.batches).toEqual([['h1'], ['h2', 'deploy@h3'], ['h4', 'db-1']]);
  });

  it('--limit keeps hosts by name, group or glob, and !x excludes', async () => {
    const targets = async (limit: string) => (await loadPlan(join(fixtures, 'web.yaml'), { limit })).fleet!.hosts.map((h) => h.name);
    expect(await targets('web-1')).toEqual(['web-1']);
    expect(await targets('web')).toEqual(['web-1', 'deploy@web-2', 'web-3']);
    expect(await targets('web-2')).toEqual(['deploy@web-2']);
    expect(await targets('web-*,!web-3')).toEqual(['web-1', 'deploy@web-2']);
    expect(await targets('!db')).toEqual(['web-1', 'deploy@web-2', 'web-3']);
    expect(await targets(' db-1 , web-3 ')).toEqual(['web-3', 'db-1']);
  });

  it('a change whose hosts --limit leaves out has no targets; its steps are shown as written', async () => {
    const p = await loadPlan(join(fixtures, 'web.yaml'), { limit: 'db' });
    const pool = p.changes[0]!;
    expect(pool.targets).toEqual([]);
    expect((pool.apply[0]!.params as { path: string }).path).toBe('/etc/app/{{ host.name }}.conf');
    expect(p.changes[2]!.targets!.map((t) => t.host)).toEqual(['db-1']);
    expect(p.fleet!.batches).toEqual([['db-1']]);
  });

  it('steps shown unfilled for a change without hosts are not checked as if they ran (a URL, a cron schedule)', async () => {
    const text = `runbook: 1
name: unfilled
hosts: { web: [web-1], db: [db-1] }
changes:
  - id: check
    title: Check
    risk: 0
    on: web
    apply:
      - http: { url: "http://{{ host.name }}:8080/health", status: 200 }
      - cron: { id: x, schedule: "{{ host.vars.min }} * * * *", command: "true" }
        timeout: "{{ host.vars.timeout }}"
`;
    const p = await plan(text, { limit: 'db' });
    expect(p.changes[0]!.targets).toEqual([]);
    expect((p.changes[0]!.apply[1]!.params as { schedule: string }).schedule).toBe('{{ host.vars.min }} * * * *');
  });

  it('a --limit pattern that matches nothing is a usage error naming the known hosts and groups', async () => {
    const attempt = loadPlan(join(fixtures, 'web.yaml'), { limit: 'web-1,nope*' });
    await expect(attempt).rejects.toBeInstanceOf(UsageError);
    await expect(attempt).rejects.toThrow('--limit: "nope*" matches no host or group; hosts: web-1, deploy@web-2, web-3, db-1; groups: web, db');
    await expect(loadPlan(join(fixtures, 'web.yaml'), { limit: '!nope' })).rejects.toThrow(/"nope" matches no host or group/);
  });

  it('--ssh-config is kept absolute in the fleet; a missing one is a usage error', async () => {
    const p = await plan(runbook('  web: [h1]'), { sshConfig: 'ssh_config' }, { ssh_config: 'Host h1\n  HostName 127.0.0.2\n' });
    expect(p.fleet!.sshConfig).toMatch(/^\/.*\/ssh_config$/);
    await expect(plan(runbook('  web: [h1]'), { sshConfig: 'missing' })).rejects.toThrow(/^--ssh-config .*missing: no such file$/);
  });
});

describe('commands printed for the operator', () => {
  it('repeat --inventory and --ssh-config for the commands that take them (not --limit: a rollback covers every host)', () => {
    const options = { var: [], varsFile: [], json: false, color: false, verbose: false, inventory: 'inv.yaml', sshConfig: 'ssh.conf', limit: 'web-1' };
    expect(runbookCommand(['rollback', 'x.yaml'], options)).toBe('runbook rollback x.yaml --inventory inv.yaml --ssh-config ssh.conf');
    expect(runbookCommand(['unlock', 'x.yaml'], options)).toBe('runbook unlock x.yaml');
  });
});
