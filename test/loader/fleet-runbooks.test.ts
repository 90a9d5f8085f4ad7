import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';

const fleet = join(repoRoot, 'test', 'fixtures', 'fleet');
const dir = join(fleet, 'broken');
const web = join(fleet, 'web.yaml');

const SSH_DESTINATION = /must be an ssh destination \[user@\]host: letters, digits, "\.", "_" or "-" in each part, starting with a letter or digit/;
const HOST_ELSEWHERE = /\{\{ host\.name \}\} names the target host: it can be used only in the steps of a change that runs on hosts \(on: GROUP\), not in a local change, preflight, checkpoint/;

/** Each broken fleet runbook: where the problem is (line:col) and the words an operator reads. */
const cases: [file: string, line: number, col: number, message: RegExp][] = [
  ['bad-host-name.yaml', 4, 16, new RegExp(`^hosts\\.web\\[1\\] ${SSH_DESTINATION.source} — got "-oProxyCommand=touch /tmp/x"$`)],
  ['bad-host-key.yaml', 6, 5, new RegExp(`^"web 2; rm -rf /" in hosts\\.web ${SSH_DESTINATION.source}$`)],
  ['bad-host-user.yaml', 4, 9, /hosts\.web\[0\] must be an ssh destination .* — got "root@@web-1"$/],
  ['duplicate-host.yaml', 4, 8, /hosts\.web lists the same item twice/],
  ['unknown-group.yaml', 10, 9, /^change "one" runs on unknown host group "wep" \(did you mean "web"\?\); the groups in hosts: are: web, db$/],
  ['unknown-group-in-list.yaml', 9, 10, /^change "one" runs on unknown host group "db"; the groups in hosts: are: web$/],
  ['on-without-hosts.yaml', 7, 9, /^change "one" runs on unknown host group "web"; no host groups are defined: name them under hosts:, or give --inventory FILE$/],
  ['reserved-local-group.yaml', 5, 3, /^"local" cannot name a group in hosts: it is reserved for this machine \(on: local\)$/],
  ['on-local-and-group.yaml', 9, 15, /^change "one": on: lists "local" with host groups; a change runs either on this machine \(on: local\) or on hosts/],
  ['host-in-local-change.yaml', 11, 29, HOST_ELSEWHERE],
  ['host-in-preflight.yaml', 6, 20, HOST_ELSEWHERE],
  ['host-in-checkpoint.yaml', 5, 33, HOST_ELSEWHERE],
  ['host-reset-checkpoint.yaml', 13, 38, /^change "one" runs on hosts, but "reset: checkpoint" names the run's checkpoint, which checkpoint\.git takes on this machine: on a host, take one with a git step \(checkpoint: MESSAGE\) in the change/],
  ['bad-host-template.yaml', 12, 20, /^\{\{ host\.vars \}\} is not a host template: the target host is \{\{ host\.name \}\} and its vars are \{\{ host\.vars\.NAME \}\}$/],
  ['reserved-var-host.yaml', 3, 9, /^the variable name "host" is reserved in a runbook with changes on hosts/],
  ['rollout-percent-over-100.yaml', 5, 20, /^rollout\.canary must be a number of hosts, or a percentage from 0% to 100% such as "25%" — got "150%"$/],
  ['rollout-batch-zero.yaml', 5, 30, /^rollout\.batch must be between 1 and 1000000, got 0$/],
  ['rollout-negative.yaml', 5, 25, /^rollout\.maxFailures must be between 0 and 1000000, got -1$/],
  ['rollout-pause-number.yaml', 5, 19, /^rollout\.pause must be a duration with a unit such as 500ms, 30s, 5m or 1h — got number 5$/],
  ['rollout-unknown-key.yaml', 5, 23, /^unknown key "batches" in rollout \(did you mean "batch"\?\); allowed: canary, batch, maxFailures, pause$/],
];

/** The problem printed at `file:line:col`, without the position. */
function problemAt(stderr: string, file: string, line: number, col: number): string | undefined {
  const prefix = `${file}:${line}:${col}: `;
  return stderr
    .split('\n')
    .find((l) => l.startsWith(prefix))
    ?.slice(prefix.length);
}

describe('runbook validate and plan on broken fleet runbooks', () => {
  it.each(cases)('%s → exit 2 at %i:%i', (file, line, col, message) => {
    const path = join(dir, file);
    for (const command of ['validate', 'plan']) {
      const r = runCli([command, path]);
      expect(r.code).toBe(2);
      expect(problemAt(r.stderr, path, line, col), r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/^\s+\d+ \| /m);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).toBe('');
    }
  });
});

describe('runbook validate of a runbook with hosts', () => {
  it('is valid, and counts the hosts', () => {
    const r = runCli(['validate', join('test', 'fixtures', 'fleet', 'web.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('test/fixtures/fleet/web.yaml: valid (3 changes, 4 steps, 4 hosts)\n');
    const limited = runCli(['validate', web, '--limit', 'web', '--json']);
    expect(JSON.parse(limited.stdout)).toEqual({ valid: true, file: web, changes: 3, hosts: 3 });
  });
});

describe('--inventory', () => {
  const withInventory = (inventory: string, command = 'validate') => runCli([command, web, '--inventory', join(dir, inventory)]);

  it('replaces hosts: — the plan targets its hosts', () => {
    const r = runCli(['plan', web, '--inventory', join(fleet, 'inventory.yaml'), '--format', 'json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { fleet: { hosts: { name: string }[] } };
    expect(doc.fleet.hosts.map((h) => h.name)).toEqual(['h1', 'h2', 'deploy@h3', 'h4', 'db-1']);
  });

  it('its problems are reported at INVENTORY:line:col, exit 2', () => {
    const path = join(dir, 'bad-inventory.yaml');
    const r = withInventory('bad-inventory.yaml');
    expect(r.code).toBe(2);
    expect(problemAt(r.stderr, path, 3, 5)).toMatch(new RegExp(`^host "--oops" in group web ${SSH_DESTINATION.source}$`));
    expect(problemAt(r.stderr, path, 5, 9)).toBe('the vars of host db-1 in group db must be a map of names to values (or nothing), got a list');
    expect(r.stderr).toMatch(/^\s+\d+ \| /m);
    const list = withInventory('inventory-a-list.yaml');
    expect(list.code).toBe(2);
    expect(problemAt(list.stderr, join(dir, 'inventory-a-list.yaml'), 1, 1)).toMatch(/^an inventory must be a map of group names to hosts/);
    const group = withInventory('inventory-group-not-a-list.yaml', 'plan');
    expect(group.code).toBe(2);
    expect(problemAt(group.stderr, join(dir, 'inventory-group-not-a-list.yaml'), 1, 6)).toBe('group web must be a list of hosts, or a map of hosts to their vars, got "web-1"');
    expect(problemAt(group.stderr, join(dir, 'inventory-group-not-a-list.yaml'), 2, 1)).toMatch(/^"local" cannot name a group/);
    const missing = withInventory('no-such-inventory.yaml');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read inventory .*no-such-inventory\.yaml: no such file/);
  });

  it('on: naming a group the inventory lacks is an error in the runbook, naming the inventory’s groups', () => {
    const r = withInventory('inventory-other-groups.yaml');
    expect(r.code).toBe(2);
    expect(problemAt(r.stderr, web, 13, 9)).toBe(`change "pool" runs on unknown host group "web"; the groups in inventory ${join(dir, 'inventory-other-groups.yaml')} are: edge`);
  });
});

describe('--limit and --ssh-config', () => {
  it('a --limit pattern that matches nothing: usage error naming the known hosts, exit 2', () => {
    for (const command of ['validate', 'plan', 'apply', 'rollback']) {
      const r = runCli([command, web, '--limit', 'web-1,nope', '--state-dir', join(mkdtempSync(join(tmpdir(), 'runbook-fleet-state-')), 'state')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('runbook: --limit: "nope" matches no host or group; hosts: web-1, deploy@web-2, web-3, db-1; groups: web, db\n');
    }
  });

  it('a --ssh-config that does not exist: usage error, exit 2', () => {
    for (const command of ['validate', 'plan', 'apply', 'rollback']) {
      const r = runCli([command, web, '--ssh-config', join(fleet, 'no-such-ssh-config'), '--state-dir', join(mkdtempSync(join(tmpdir(), 'runbook-fleet-state-')), 'state')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`runbook: --ssh-config ${join(fleet, 'no-such-ssh-config')}: no such file\n`);
    }
    const dirAsConfig = runCli(['plan', web, '--ssh-config', fleet]);
    expect(dirAsConfig.code).toBe(2);
    expect(dirAsConfig.stderr).toMatch(/--ssh-config .*: not a file/);
  });

  it('--ssh-config is kept absolute in the plan', () => {
    const r = runCli(['plan', join('test', 'fixtures', 'fleet', 'web.yaml'), '--ssh-config', join('test', 'fixtures', 'fleet', 'inventory.yaml'), '--format', 'json'], { cwd: repoRoot });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { fleet: { sshConfig: string } }).fleet.sshConfig).toBe(join(fleet, 'inventory.yaml'));
  });
});
