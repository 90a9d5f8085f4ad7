import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCliAsync } from '../support/cli.js';
import { crontabText, withCrontab } from '../support/crontab.js';

const { url } = inject('pg');
let client: pg.Client;

async function rows(): Promise<string> {
  const r = await client.query('select id, name from all_steps_items order by id');
  return JSON.stringify(r.rows);
}

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@localhost', ...args], { cwd: dir, encoding: 'utf8' });
}

/** A repo, a table, a crontab entry and compose services — every real-system step in one runbook. */
function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-all-'));
  const repo = join(dir, 'repo');
  execFileSync('mkdir', ['-p', repo]);
  git(repo, 'init', '-q', '-b', 'main');
  writeFileSync(join(repo, 'config.ini'), 'mode=old\n');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'initial');
  writeFileSync(join(repo, 'notes.txt'), 'uncommitted work of the operator\n');
  // docker has no engine on these machines: a stand-in executable records what it was asked to do.
  const bin = join(dir, 'bin');
  execFileSync('mkdir', ['-p', bin]);
  writeFileSync(join(bin, 'docker'), `#!/bin/sh\necho "$@" >> ${join(dir, 'docker.calls')}\n`);
  chmodSync(join(bin, 'docker'), 0o755);
  const runbook = join(dir, 'all.yaml');
  writeFileSync(
    runbook,
    `runbook: 1
name: all-steps
vars: { repo: "${repo}", db: "${url}", fail: "no" }
secrets: [db]
checkpoint: { git: { dir: "{{ repo }}", message: "checkpoint: before all-steps" } }
preflight:
  - postgres: { url: "{{ db }}", ready: true }
changes:
  - id: data
    title: Insert a row
    risk: 1
    apply:
      - postgres: { url: "{{ db }}", exec: "insert into all_steps_items (id, name) values (100, 'new')" }
    verify:
      - postgres: { url: "{{ db }}", query: "select count(*) from all_steps_items where id = $1", params: [100], expect: 1 }
    rollback:
      - postgres: { url: "{{ db }}", exec: "delete from all_steps_items where id = 100" }
  - id: cron
    title: Nightly job
    risk: 0
    apply:
      - cron: { id: all-steps-job, schedule: "0 3 * * *", command: "echo nightly" }
  - id: config
    title: Config and restart
    risk: 1
    apply:
      - file: { path: "{{ repo }}/config.ini", replace: { from: "mode=old", to: "mode=new" } }
      - compose: { action: restart, services: [api], dir: "{{ repo }}" }
    verify:
      - run: "test {{ fail }} = no"
    rollback:
      - file: { path: "{{ repo }}/config.ini", replace: { from: "mode=new", to: "mode=old" } }
      - compose: { action: restart, services: [api], dir: "{{ repo }}" }
`,
  );
  return { dir, repo, runbook, env: { PATH: `${bin}:${process.env.PATH}` } };
}

beforeAll(async () => {
  client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('create table if not exists all_steps_items (id int primary key, name text)');
  await client.query("insert into all_steps_items values (1, 'a'), (2, 'b') on conflict do nothing");
});
afterAll(async () => {
  await client.end();
});

describe('a runbook using postgres, cron, git, file and compose steps', () => {
  it('with a failure in its last change ends with rows, crontab and git tree exactly as before', async () => {
    await withCrontab(async () => {
      const s = setup();
      const before = { rows: await rows(), crontab: crontabText(), head: git(s.repo, 'rev-parse', 'HEAD'), status: git(s.repo, 'status', '--porcelain'), config: readFileSync(join(s.repo, 'config.ini'), 'utf8') };
      const r = await runCliAsync(['apply', s.runbook, '--var', 'fail=yes'], { env: s.env });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/rolled back:\s+1\. data, 2\. cron, 3\. config/);
      expect(r.stdout).toMatch(/checkpoint: [0-9a-f]{12}/);
      expect(await rows()).toBe(before.rows);
      expect(crontabText()).toEqual(before.crontab);
      expect(readFileSync(join(s.repo, 'config.ini'), 'utf8')).toBe(before.config);
      // The checkpoint committed the operator's uncommitted work; their file is intact.
      expect(readFileSync(join(s.repo, 'notes.txt'), 'utf8')).toBe('uncommitted work of the operator\n');
      expect(readFileSync(join(s.dir, 'docker.calls'), 'utf8')).toBe(`compose restart api\ncompose restart api\n`);
      expect(r.stdout + r.stderr).not.toContain(inject('pg').password);
    });
  });

  it('rollback --checkpoint returns the checkout to the checkpoint commit, and refuses on foreign changes', async () => {
    await withCrontab(async () => {
      const s = setup();
      const r = await runCliAsync(['apply', s.runbook], { env: s.env });
      expect(r.code).toBe(0);
      const checkpoint = /checkpoint: ([0-9a-f]{12})/.exec(r.stdout)![1]!;
      writeFileSync(join(s.repo, 'someone-else.txt'), 'not the run’s own\n');
      const refused = await runCliAsync(['rollback', s.runbook, '--checkpoint'], { env: s.env });
      expect(refused.code).toBe(3);
      expect(refused.stderr).toMatch(/refusing to reset .*someone-else\.txt.*Nothing was changed/s);
      expect(readFileSync(join(s.repo, 'config.ini'), 'utf8')).toBe('mode=new\n');
      const forced = await runCliAsync(['rollback', s.runbook, '--checkpoint', '--force'], { env: s.env });
      expect(forced.code).toBe(0);
      expect(git(s.repo, 'rev-parse', 'HEAD').slice(0, 12)).toBe(checkpoint);
      expect(git(s.repo, 'status', '--porcelain')).toBe('');
      expect(readFileSync(join(s.repo, 'config.ini'), 'utf8')).toBe('mode=old\n');
      expect(await rows()).not.toContain('"id":100');
    });
  });
});
