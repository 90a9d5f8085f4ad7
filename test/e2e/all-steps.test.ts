import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCliAsync } from '../support/cli.js';
import { crontabText, withCrontab } from '../support/crontab.js';
import { git, gitState, realSystemRunbook } from '../support/real-system.js';

const { url } = inject('pg');
let client: pg.Client;

async function rows(): Promise<string> {
  const r = await client.query('select id, name from all_steps_items order by id');
  return JSON.stringify(r.rows);
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');

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
  it('with a failure in its last change ends with rows, crontab, files, HEAD, index and git status exactly as before', async () => {
    await withCrontab(async () => {
      const s = realSystemRunbook(url);
      const before = { rows: await rows(), crontab: crontabText(), git: gitState(s.repo), config: read(s.repo, 'config.ini') };
      const r = await runCliAsync(['apply', s.runbook, '--var', 'fail=yes'], { env: s.env });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/rolled back:\s+1\. data, 2\. cron, 3\. config/);
      const checkpoint = /checkpoint: ([0-9a-f]{12}) .*\(new commit\)/.exec(r.stdout)![1]!;
      expect(r.stdout).toContain(`git: ${s.repo} is back at ${before.git.head.slice(0, 12)}, index and status as before the run (checkpoint commit ${checkpoint} undone)`);
      expect(await rows()).toBe(before.rows);
      expect(crontabText()).toEqual(before.crontab);
      expect(read(s.repo, 'config.ini')).toBe(before.config);
      // The operator's uncommitted work: committed by the checkpoint, given back exactly as it was.
      expect(gitState(s.repo)).toEqual(before.git);
      expect(read(s.repo, 'notes.txt')).toBe('uncommitted work of the operator\n');
      expect(read(s.repo, 'staged.txt')).toBe('v3 edited after staging\n');
      expect(git(s.repo, 'show', ':staged.txt')).toBe('v2 staged\n');
      expect(readFileSync(join(s.dir, 'docker.calls'), 'utf8')).toBe(`compose restart api\ncompose restart api\n`);
      expect(r.stdout + r.stderr).not.toContain(inject('pg').password);
    });
  });

  it('runbook rollback after a successful apply puts HEAD, index and git status back as before', async () => {
    await withCrontab(async () => {
      const s = realSystemRunbook(url);
      const before = gitState(s.repo);
      expect((await runCliAsync(['apply', s.runbook], { env: s.env })).code).toBe(0);
      expect(gitState(s.repo).head).not.toBe(before.head);
      const rb = await runCliAsync(['rollback', s.runbook], { env: s.env });
      expect(rb.code, rb.stdout + rb.stderr).toBe(0);
      expect(rb.stdout).toContain(`git: ${s.repo} is back at ${before.head.slice(0, 12)}`);
      expect(gitState(s.repo)).toEqual(before);
      const again = await runCliAsync(['rollback', s.runbook], { env: s.env });
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/nothing to roll back/);
    });
  });

  it('keeps the checkpoint commit when someone committed on top of it, and says how to finish', async () => {
    await withCrontab(async () => {
      const s = realSystemRunbook(url);
      const before = gitState(s.repo);
      expect((await runCliAsync(['apply', s.runbook], { env: s.env })).code).toBe(0);
      const checkpoint = gitState(s.repo).head;
      writeFileSync(join(s.repo, 'colleague.txt'), 'hotfix\n');
      git(s.repo, 'add', 'colleague.txt');
      git(s.repo, 'commit', '-q', '-m', 'colleague: hotfix');
      const theirs = gitState(s.repo).head;
      const rb = await runCliAsync(['rollback', s.runbook], { env: s.env });
      expect(rb.code, rb.stdout + rb.stderr).toBe(0);
      expect(read(s.repo, 'config.ini')).toBe('mode=old\n');
      expect(gitState(s.repo).head).toBe(theirs);
      expect(git(s.repo, 'rev-parse', 'HEAD~1').trim()).toBe(checkpoint);
      expect(rb.stdout).toContain(`git: the checkpoint commit ${checkpoint.slice(0, 12)} is kept in ${s.repo}: HEAD moved on since (${theirs.slice(0, 12)} colleague: hotfix)`);
      expect(rb.stdout).toContain(`git -C ${s.repo} reset --soft ${before.head} && git -C ${s.repo} read-tree ${before.index}`);
      // A second rollback does not touch it again, and a new apply is not blocked.
      expect((await runCliAsync(['rollback', s.runbook], { env: s.env })).stdout).toMatch(/nothing to roll back/);
      expect(gitState(s.repo).head).toBe(theirs);
    });
  });

  it('refuses before anything changes when the checkpoint would commit a secret or a large file', async () => {
    await withCrontab(async () => {
      const s = realSystemRunbook(url);
      writeFileSync(join(s.repo, '.env'), 'API_KEY=abc\n');
      writeFileSync(join(s.repo, 'dump.sql'), `-- ${inject('pg').url}\n`);
      const before = { rows: await rows(), crontab: crontabText(), git: gitState(s.repo) };
      const r = await runCliAsync(['apply', s.runbook], { env: s.env });
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('preflight failed — nothing was changed');
      expect(r.stdout).toContain('.env (the name looks like a secret)');
      expect(r.stdout).toContain('dump.sql (holds the value of secret db)');
      expect(r.stdout).toContain('checkpoint.git.exclude');
      expect(r.stdout + r.stderr).not.toContain(inject('pg').password);
      expect(gitState(s.repo)).toEqual(before.git);
      expect(await rows()).toBe(before.rows);
      expect(crontabText()).toEqual(before.crontab);
    });
  });

  it('rollback --checkpoint returns the files to the checkpoint, refuses on foreign changes, and never deletes files it did not write', async () => {
    await withCrontab(async () => {
      const s = realSystemRunbook(url);
      const before = gitState(s.repo);
      const r = await runCliAsync(['apply', s.runbook], { env: s.env });
      expect(r.code).toBe(0);
      writeFileSync(join(s.repo, 'unstaged.txt'), 'a colleague’s hotfix\n');
      writeFileSync(join(s.repo, 'someone-else.txt'), 'not the run’s own\n');
      const refused = await runCliAsync(['rollback', s.runbook, '--checkpoint'], { env: s.env });
      expect(refused.code).toBe(3);
      expect(refused.stderr).toMatch(/refusing to reset .*changed: unstaged\.txt.*Nothing was changed/s);
      expect(refused.stderr).not.toContain('someone-else.txt');
      expect(read(s.repo, 'config.ini')).toBe('mode=new\n');
      const forced = await runCliAsync(['rollback', s.runbook, '--checkpoint', '--force'], { env: s.env });
      expect(forced.code, forced.stdout + forced.stderr).toBe(0);
      expect(forced.stderr).toContain('--force: discarding changes that are not this run’s own:\n  changed: unstaged.txt');
      expect(forced.stdout).toContain('kept (created since the checkpoint, not by this run): someone-else.txt');
      expect(read(s.repo, 'config.ini')).toBe('mode=old\n');
      expect(read(s.repo, 'unstaged.txt')).toBe('v2 unstaged\n');
      expect(existsSync(join(s.repo, 'someone-else.txt'))).toBe(true);
      const after = gitState(s.repo);
      expect(after.head).toBe(before.head);
      expect(after.index).toBe(before.index);
      expect(after.status).toBe(before.status.replace('?? notes.txt\n', '?? notes.txt\n?? someone-else.txt\n'));
      expect(await rows()).not.toContain('"id":100');
    });
  });
});
