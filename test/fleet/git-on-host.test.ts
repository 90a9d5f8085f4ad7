/**
 * git steps on the hosts' own checkouts (/srv/app, private to each host): a checkpoint step and
 * file changes inside the checkout, rolled back by the change's automatic rollback — on a failed
 * verify, by `runbook rollback` after a success, and after kill -9 of the control node — with
 * HEAD, the index, `git status` and every file's bytes read back over ssh, exactly as before.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventName, startFleet, until, workspace, type Fleet } from './fleet-fixture.js';

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet('g', 2, 240);
});
afterAll(() => fleet?.stop());

/**
 * A checkout with one commit and the operator's work in progress: a staged change edited again
 * after staging, an unstaged one, an untracked file, an ignored one.
 */
const SEED = [
  'rm -rf /srv/app && mkdir -p /srv/app && cd /srv/app && git init -q -b main',
  "printf 'mode=old\\n' > config.ini && printf 'v1\\n' > staged.txt && printf 'v1\\n' > unstaged.txt && printf '*.log\\n' > .gitignore",
  'git add -A && git -c user.name=ops -c user.email=ops@localhost commit -q -m initial',
  "printf 'v2 staged\\n' > staged.txt && git add staged.txt && printf 'v3 edited after staging\\n' > staged.txt",
  "printf 'v2 unstaged\\n' > unstaged.txt && printf 'notes of the operator\\n' > notes.txt && printf 'ignored\\n' > debug.log",
].join(' && ');

beforeEach(() => {
  for (const name of fleet.names) fleet.on(name, SEED);
});

/** HEAD, its branch, the index as a tree, `git status` and the bytes of every file: the checkout as the operator sees it. */
const checkout = (name: string) =>
  fleet.on(name, 'cd /srv/app && git rev-parse HEAD && git symbolic-ref HEAD && git write-tree && git status --porcelain --untracked-files=all --ignored && find . -path ./.git -prune -o -type f -print0 | sort -z | xargs -0 sha256sum');
const head = (name: string) => fleet.on(name, 'git -C /srv/app rev-parse HEAD').trim();

const runbook = `runbook: 1
name: git-on-hosts
hosts:
  web: [g-1, g-2]
rollout: { canary: 1, batch: 1 }
vars: { fail_on: none, slow: "no" }
changes:
  - id: config
    title: Checkpoint the app's checkout, then change its config
    risk: 1
    on: web
    apply:
      - git: { dir: /srv/app, checkpoint: "checkpoint: before config on {{ host.name }}" }
      - file: { path: /srv/app/config.ini, replace: { from: "mode=old", to: "mode=new" } }
      - file: { path: /srv/app/served-by, content: "{{ host.name }}\\n" }
      - name: slow step
        run: "if [ {{ slow }} = yes ]; then sleep 300; fi"
    verify:
      - run: "grep -q mode=new /srv/app/config.ini"
      - name: fault injection
        run: "test {{ host.name }} != {{ fail_on }}"
    rollback:
      - undo: apply
`;

describe('git steps on the hosts’ checkouts', () => {
  it('commits the checkpoint on each host; a verify failing on the second host rolls both back to HEAD, index, status and bytes as before', async () => {
    const before = Object.fromEntries(fleet.names.map((n) => [n, { checkout: checkout(n), head: head(n) }]));
    const ws = workspace(fleet, runbook);
    const r = ws.cli(['apply', ws.runbook, '--yes', '--var', 'fail_on=g-2']);
    expect(r.code, r.stderr + r.stdout).toBe(1);
    expect(r.stdout).toMatch(/^ {2}g-1 +↩ rolled back/m);
    expect(r.stdout).toMatch(/^ {2}g-2 +↩ rolled back \(failed: config failed in verify: command exited with code 1\)$/m);
    for (const name of fleet.names) {
      expect(checkout(name)).toBe(before[name]!.checkout);
      // The checkpoint was committed there, by git on the host, on top of the operator's HEAD.
      expect(fleet.on(name, `git -C /srv/app log -g --format=%gs -n 3 refs/heads/main`)).toMatch(new RegExp(`^runbook: undo the checkpoint\\nrunbook: checkpoint: before config on ${name}\\n`));
    }
  });

  it('a host without git fails the preflight, naming the host and git; no host is changed', async () => {
    const before = Object.fromEntries(fleet.names.map((n) => [n, checkout(n)]));
    // Only in g-2's own mount namespace (private propagation): git there is /dev/null, not a program.
    fleet.on('g-2', 'mount --bind /dev/null /usr/bin/git');
    try {
      const ws = workspace(fleet, runbook);
      const r = ws.cli(['apply', ws.runbook, '--yes']);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout + r.stderr).toMatch(/g-2: Programs the steps need: git \(config\)[^\n]*\n?.*not found on PATH: git/);
    } finally {
      fleet.on('g-2', 'umount /usr/bin/git');
    }
    for (const name of fleet.names) expect(checkout(name)).toBe(before[name]);
  });

  it('after a successful apply, the checkpoint holds the operator’s work; `runbook rollback` gives every host back exactly', async () => {
    const before = Object.fromEntries(fleet.names.map((n) => [n, checkout(n)]));
    const ws = workspace(fleet, runbook);
    const applied = ws.cli(['apply', ws.runbook, '--yes', '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    // The host preflight names git among the programs the host needs.
    const preflight = applied.stdout.split('\n').filter((l) => l.includes('"step.finished"') && l.includes('"preflight"') && l.includes('"host":"g-1"'));
    expect(preflight.join('\n')).toMatch(/Programs the steps need: git \(config\)/);
    for (const name of fleet.names) {
      expect(fleet.on(name, 'git -C /srv/app show HEAD:notes.txt HEAD:staged.txt')).toBe('notes of the operator\nv3 edited after staging\n');
      expect(fleet.on(name, 'git -C /srv/app log -1 --format="%s|%an"')).toBe(`checkpoint: before config on ${name}|runbook\n`);
      expect(fleet.on(name, 'cat /srv/app/config.ini /srv/app/served-by')).toBe(`mode=new\n${name}\n`);
    }
    const rb = ws.cli(['rollback', ws.runbook, '--yes']);
    expect(rb.code, rb.stderr + rb.stdout).toBe(0);
    for (const name of fleet.names) expect(checkout(name)).toBe(before[name]);
  });

  it('kill -9 of the control node mid-change: one `runbook rollback` takes the host’s checkpoint back and restores its files', async () => {
    const before = checkout('g-1');
    const ws = workspace(fleet, runbook);
    const run = ws.start(['apply', ws.runbook, '--yes', '--var', 'slow=yes']);
    await until(() => run.events().some((e) => eventName(e) === 'step.started' && e.label === 'slow step' && e.host === 'g-1'), 'the slow step started on g-1');
    await until(() => fleet.ssh('g-1', 'ps -eo args').stdout.includes('sleep 300'), 'sleep 300 running on g-1');
    expect(fleet.on('g-1', 'cat /srv/app/config.ini')).toBe('mode=new\n');
    expect(head('g-1')).not.toBe(before.split('\n')[0]);
    run.kill('SIGKILL');
    expect((await run.done).code).toBeNull();

    const rb = ws.cli(['rollback', ws.runbook, '--yes']);
    expect(rb.code, rb.stderr + rb.stdout).toBe(0);
    expect(rb.stdout).toContain('still applied: nothing — the system is as before this run');
    expect(checkout('g-1')).toBe(before);
    expect(fleet.ssh('g-1', 'ps -eo args').stdout).not.toContain('sleep 300');
  });

  it('when someone committed on top of the checkpoint on a host, the rollback leaves HEAD alone there, says so with the commands that finish the job, and exits 3', async () => {
    const ws = workspace(fleet, runbook);
    const before = head('g-1');
    expect(ws.cli(['apply', ws.runbook, '--yes']).code).toBe(0);
    const checkpoint = head('g-1');
    fleet.on('g-1', "cd /srv/app && printf 'hotfix\\n' > hotfix.txt && git add hotfix.txt && git -c user.name=ops -c user.email=ops@localhost commit -q -m 'colleague: hotfix'");
    const theirs = head('g-1');
    const rb = ws.cli(['rollback', ws.runbook, '--yes']);
    expect(rb.code, rb.stderr + rb.stdout).toBe(3);
    const said = rb.stdout + rb.stderr;
    expect(said).toContain(`the checkpoint commit ${checkpoint.slice(0, 12)} is kept in /srv/app: HEAD moved on since (${theirs.slice(0, 12)} colleague: hotfix)`);
    expect(said).toContain(`git -C /srv/app reset --soft ${before}`);
    expect(head('g-1')).toBe(theirs);
    expect(fleet.on('g-1', 'cat /srv/app/hotfix.txt')).toBe('hotfix\n');
  });
});
