import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCliAsync, startCli, waitFor } from '../support/cli.js';
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
        expectStaleLockCleared(await runCliAsync(['unlock', s.runbook], { env: s.env }), s.runbook, 'apply');
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
        expectStaleLockCleared(await runCliAsync(['unlock', s.runbook], { env: s.env }), s.runbook, 'rollback');
        const again = await runCliAsync(['rollback', s.runbook], { env: s.env });
        expect(again.code, `second rollback after killing the first at its event ${k}: ${again.stdout}${again.stderr}`).toBe(0);
        expect(await observe(s)).toEqual(before);
      }
      process.stdout.write(`crash sweep: ${survived}/${points.length} apply kill points and ${rollbackEvents} rollback kill points restored\n`);
    });
  }, 600_000);
});

/** `runbook unlock` after a kill -9: exit 0, naming the dead holder. */
function expectStaleLockCleared(r: { code: number | null; stdout: string; stderr: string }, runbook: string, command: 'apply' | 'rollback', pid?: number) {
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const holder = `pid ${pid ?? '\\d+'} on ${escape(hostname())} \\(user ${escape(userInfo().username)}, "runbook ${command} ${escape(runbook)}"\\) since \\S+`;
  expect(r.stdout).toMatch(new RegExp(`^lock cleared \\(was ${holder}\\)\\n$`));
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Replaces `from` (which must be there) in the runbook: the variant must really differ. */
function edit(s: ReturnType<typeof realSystemRunbook>, from: string, to: string): void {
  const text = readFileSync(s.runbook, 'utf8');
  if (!text.includes(from)) throw new Error(`the real-system runbook no longer has ${JSON.stringify(from)}`);
  writeFileSync(s.runbook, text.replace(from, to));
}

/** The real-system runbook with slow steps: SQL that sleeps in its transaction, a slow verify query, a slow check after the crontab write, a slow command between a file edit and a restart, a slow undo step. */
function withLongSteps(s: ReturnType<typeof realSystemRunbook>) {
  edit(s, `exec: "insert into all_steps_items (id, name) values (100, 'new')" }`, `exec: "insert into all_steps_items (id, name) values (100, 'new'); select pg_sleep(1)" }`);
  edit(s, 'query: "select count(*) from all_steps_items where id = $1"', 'query: "select count(*) from all_steps_items, pg_sleep(1) where id = $1"');
  edit(s, '      - cron: { id: all-steps-job, schedule: "0 3 * * *", command: "echo nightly" }\n', '      - cron: { id: all-steps-job, schedule: "0 3 * * *", command: "echo nightly" }\n    verify:\n      - run: "crontab -l | grep -q all-steps-job; sleep 1"\n');
  edit(s, '      - file: { path: "{{ repo }}/config.ini", replace: { from: "mode=old", to: "mode=new" } }\n', '      - file: { path: "{{ repo }}/config.ini", replace: { from: "mode=old", to: "mode=new" } }\n      - run: "sleep 1"\n');
  edit(s, '      - file: { path: "{{ repo }}/config.ini", replace: { from: "mode=new", to: "mode=old" } }\n', '      - file: { path: "{{ repo }}/config.ini", replace: { from: "mode=new", to: "mode=old" } }\n      - run: "sleep 1"\n');
  return s;
}

/** True once the journal says the step (phase, change, index) has started. */
function stepStarted(s: ReturnType<typeof realSystemRunbook>, phase: string, changeId: string, index: number): boolean {
  try {
    return journalEvents(s).some((e) => {
      const x = e as { type: string; phase?: string; changeId?: string; index?: number };
      return x.type === 'step.started' && x.phase === phase && x.changeId === changeId && x.index === index;
    });
  } catch {
    return false; // a line being written
  }
}

describe('crash sweep: kill -9 in the middle of long steps of the real-system runbook, then rollback', () => {
  it('restores rows, crontab and files when the engine dies inside slow SQL, a slow query, slow commands and a slow undo step', async () => {
    await withCrontab(async () => {
      const points: { what: string; args: (s: ReturnType<typeof realSystemRunbook>) => string[]; phase: string; changeId: string; index: number; prepare?: (s: ReturnType<typeof realSystemRunbook>) => Promise<void> }[] = [
        { what: 'apply: SQL sleeping inside its transaction', args: (s) => ['apply', s.runbook], phase: 'apply', changeId: 'data', index: 0 },
        { what: 'verify: a slow SQL query', args: (s) => ['apply', s.runbook], phase: 'verify', changeId: 'data', index: 0 },
        { what: 'verify: a slow check after the crontab was written', args: (s) => ['apply', s.runbook], phase: 'verify', changeId: 'cron', index: 0 },
        { what: 'apply: a slow command between the file edit and the restart', args: (s) => ['apply', s.runbook], phase: 'apply', changeId: 'config', index: 1 },
        { what: 'automatic rollback: a slow undo step', args: (s) => ['apply', s.runbook, '--var', 'fail=yes'], phase: 'rollback', changeId: 'config', index: 1 },
        {
          what: 'runbook rollback: a slow undo step',
          args: (s) => ['rollback', s.runbook],
          phase: 'rollback',
          changeId: 'config',
          index: 1,
          prepare: async (s) => {
            expect((await runCliAsync(['apply', s.runbook], { env: s.env })).code).toBe(0);
          },
        },
      ];
      for (const point of points) {
        const s = withLongSteps(realSystemRunbook(url));
        const before = await observe(s);
        await point.prepare?.(s);
        const run = startCli(point.args(s), { env: s.env });
        const started = () => stepStarted(s, point.phase, point.changeId, point.index);
        await waitFor(() => started() || run.child.exitCode !== null, 60_000);
        if (!started()) {
          const r = await run.done;
          throw new Error(`${point.what}: the run ended (exit ${r.code}) before the step started:\n${r.stdout}${r.stderr}`);
        }
        await new Promise((r) => setTimeout(r, 300));
        run.child.kill('SIGKILL');
        expect((await run.done).code, point.what).toBeNull();
        expectStaleLockCleared(await runCliAsync(['unlock', s.runbook], { env: s.env }), s.runbook, point.args(s)[0] as 'apply' | 'rollback', run.child.pid);
        const rb = await runCliAsync(['rollback', s.runbook], { env: s.env });
        expect(rb.code, `rollback after a kill in ${point.what}: ${rb.stdout}${rb.stderr}`).toBe(0);
        expect(await observe(s), `state after a kill in ${point.what}`).toEqual(before);
      }
      process.stdout.write(`crash sweep: ${points.length}/${points.length} kill points inside long steps restored\n`);
    });
  }, 600_000);
});

describe('crash sweep on the PostgreSQL state backend: kill -9 after every event is committed, then rollback', () => {
  it('restores rows, crontab and files at every kill point', async () => {
    await withCrontab(async () => {
      const state = (name: string) => ['--state', `${url}?schema=${name}`];
      const probe = realSystemRunbook(url);
      expect((await runCliAsync(['apply', probe.runbook, ...state('crash_probe')], { env: probe.env })).code).toBe(0);
      const total = Number((await client.query('select count(*) as n from crash_probe.events')).rows[0].n);
      expect((await runCliAsync(['rollback', probe.runbook, ...state('crash_probe')], { env: probe.env })).code).toBe(0);
      expect(total).toBeGreaterThanOrEqual(15);
      let survived = 0;
      for (let seq = 0; seq < total; seq++) {
        const s = realSystemRunbook(url);
        const schema = `crash_after_${seq}`;
        const before = await observe(s);
        const crashed = await runCliAsync(['apply', s.runbook, ...state(schema)], { env: { ...s.env, RUNBOOK_CRASH_AT: `after:${seq}` } });
        expect(crashed.code, `apply killed after event ${seq}`).toBeNull();
        const events = Number((await client.query(`select count(*) as n from ${schema}.events`)).rows[0].n);
        expect(events, 'the events committed before the kill').toBe(seq + 1);
        // The server drops a dead session's advisory lock by itself: unlock finds none (or clears it if the server has not noticed yet).
        const unlock = await runCliAsync(['unlock', s.runbook, ...state(schema)], { env: s.env });
        expect(unlock.code, unlock.stdout + unlock.stderr).toBe(0);
        expect(unlock.stdout).toMatch(/^(not locked|lock cleared \(was pid \d+ .*\))\n$/);
        const rb = await runCliAsync(['rollback', s.runbook, ...state(schema)], { env: s.env });
        expect(rb.code, `rollback after a kill after event ${seq}: ${rb.stdout}${rb.stderr}`).toBe(0);
        expect(await observe(s), `state after a kill after event ${seq}`).toEqual(before);
        survived++;
      }
      process.stdout.write(`crash sweep (PostgreSQL state): ${survived}/${total} kill points restored\n`);
    });
  }, 600_000);
});
