import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCliAsync } from '../support/cli.js';
import { crontabText, withCrontab } from '../support/crontab.js';
import { gitState, realSystemRunbook } from '../support/real-system.js';

/**
 * kill -9 of the engine at every journal event of an apply that touches files, a git
 * checkout, the crontab and PostgreSQL (just before the event is written, and just after it
 * is durable), then `runbook unlock` + `runbook rollback`: the pre-apply state must come back
 * every time. RUNBOOK_CRASH_AT makes the engine SIGKILL itself at that exact point.
 */
const { url } = inject('pg');
let client: pg.Client;

async function observe(s: ReturnType<typeof realSystemRunbook>) {
  const rows = await client.query('select id, name from all_steps_items order by id');
  return {
    rows: JSON.stringify(rows.rows),
    crontab: crontabText(),
    config: readFileSync(join(s.repo, 'config.ini'), 'utf8'),
    files: Object.fromEntries(['notes.txt', 'staged.txt', 'unstaged.txt', 'debug.log'].map((f) => [f, readFileSync(join(s.repo, f), 'utf8')])),
    git: gitState(s.repo),
  };
}

function journalEvents(s: ReturnType<typeof realSystemRunbook>): { seq: number; type: string }[] {
  const runs = join(s.dir, '.runbook', 'runs');
  return readdirSync(runs).flatMap((f) => readFileSync(join(runs, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { seq: number; type: string }));
}

beforeAll(async () => {
  client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('create table if not exists all_steps_items (id int primary key, name text)');
  await client.query("insert into all_steps_items values (1, 'a'), (2, 'b') on conflict do nothing");
});
afterAll(() => client.end());

describe('crash sweep: kill -9 at every journal event of apply, then rollback', () => {
  it('restores rows, crontab, files, git HEAD, index and status at every kill point, also when rollback itself is killed', async () => {
    await withCrontab(async () => {
      // One clean run tells how many events an apply writes.
      const probe = realSystemRunbook(url);
      expect((await runCliAsync(['apply', probe.runbook], { env: probe.env })).code).toBe(0);
      const total = journalEvents(probe).length;
      expect((await runCliAsync(['rollback', probe.runbook], { env: probe.env })).code).toBe(0);
      expect(total).toBeGreaterThanOrEqual(15);

      const points = Array.from({ length: total }, (_, seq) => [`before:${seq}`, `after:${seq}`]).flat();
      let survived = 0;
      for (const point of points) {
        const s = realSystemRunbook(url);
        const before = await observe(s);
        const crashed = await runCliAsync(['apply', s.runbook], { env: { ...s.env, RUNBOOK_CRASH_AT: point } });
        expect(crashed.code, `apply killed at ${point}`).toBeNull();
        await runCliAsync(['unlock', s.runbook], { env: s.env });
        const rb = await runCliAsync(['rollback', s.runbook], { env: s.env });
        expect(rb.code, `rollback after a kill at ${point}: ${rb.stdout}${rb.stderr}`).toBe(0);
        expect(await observe(s), `state after a kill at ${point}`).toEqual(before);
        survived++;
      }
      expect(survived).toBe(points.length);
      expect(survived).toBeGreaterThanOrEqual(30);

      // Kill the rollback itself at each of its events, then roll back again.
      const probeRb = realSystemRunbook(url);
      await runCliAsync(['apply', probeRb.runbook], { env: probeRb.env });
      const applied = journalEvents(probeRb).length;
      await runCliAsync(['rollback', probeRb.runbook], { env: probeRb.env });
      const rollbackEvents = journalEvents(probeRb).length - applied;
      for (let k = 0; k < rollbackEvents; k++) {
        const s = realSystemRunbook(url);
        const before = await observe(s);
        expect((await runCliAsync(['apply', s.runbook], { env: s.env })).code).toBe(0);
        const killed = await runCliAsync(['rollback', s.runbook], { env: { ...s.env, RUNBOOK_CRASH_AT: `after:${applied + k}` } });
        expect(killed.code).toBeNull();
        await runCliAsync(['unlock', s.runbook], { env: s.env });
        const again = await runCliAsync(['rollback', s.runbook], { env: s.env });
        expect(again.code, `second rollback after killing the first at its event ${k}: ${again.stdout}${again.stderr}`).toBe(0);
        expect(await observe(s)).toEqual(before);
      }
      process.stdout.write(`crash sweep: ${survived}/${points.length} apply kill points and ${rollbackEvents} rollback kill points restored\n`);
    });
  }, 600_000);
});
