import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCliAsync } from '../support/cli.js';
import { crontabText, withCrontab } from '../support/crontab.js';
import { git, realSystemRunbook } from '../support/real-system.js';

const { url } = inject('pg');
let client: pg.Client;

async function rows(): Promise<string> {
  const r = await client.query('select id, name from all_steps_items order by id');
  return JSON.stringify(r.rows);
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
      const s = realSystemRunbook(url);
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
      const s = realSystemRunbook(url);
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
