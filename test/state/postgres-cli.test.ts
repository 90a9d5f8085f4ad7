import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { freePort, startCluster, type Cluster } from '../../tools/pg-cluster.js';
import { fourChanges, type Sandbox } from '../executor/fixture.js';
import { cliPath, runCli, startCli, waitFor, type CliResult } from '../support/cli.js';
import { psql } from '../support/state-backend.js';

const { url, password } = inject('pg');

/** Change 2 gets a verify step that leaves a marker and sleeps, so a test knows where the engine is. */
function slow(sb: Sandbox, seconds: number) {
  writeFileSync(
    sb.runbook,
    readFileSync(sb.runbook, 'utf8')
      .replace('  - id: change-2\n', `  - id: change-2\n    rollback:\n      - file: { path: "{{ dir }}/conf2.txt", replace: { from: "setting2=new", to: "setting2=old" } }\n`)
      .replace('      - name: fault injection point 2\n', `      - run: "touch {{ dir }}/at-2; sleep ${seconds}"\n      - name: fault injection point 2\n`),
  );
}

/** Runs a command line exactly as printed, through sh, with `runbook` on PATH as an operator has it. */
function runPrinted(command: string, env: NodeJS.ProcessEnv = {}): CliResult {
  const bin = mkdtempSync(join(tmpdir(), 'runbook-bin-'));
  writeFileSync(join(bin, 'runbook'), `#!/bin/sh\nexec "${process.execPath}" "${cliPath}" "$@"\n`);
  chmodSync(join(bin, 'runbook'), 0o755);
  const r = spawnSync('/bin/sh', ['-c', command], { env: { ...process.env, CI: '1', ...env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The seq numbers of a run's events as the database has them. */
function databaseSeqs(cluster: Cluster, schema: string): number[] {
  return cluster
    .psql(`SELECT seq FROM "${schema}".events ORDER BY seq`)
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

function fallbackEvents(sb: Sandbox): { seq: number; type: string }[] {
  const dir = join(sb.state, 'fallback');
  const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  expect(files).toHaveLength(1);
  return readFileSync(join(dir, files[0]!), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { seq: number; type: string });
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Starts an apply, stops the database while change 2 verifies, and returns what the apply said. */
async function databaseGoesAwayMidApply(cluster: Cluster, sb: Sandbox, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  slow(sb, 2);
  const a = startCli(['apply', sb.runbook, ...args], { env });
  await waitFor(() => existsSync(join(sb.dir, 'at-2')));
  cluster.pause();
  const r = await a.done;
  cluster.resume();
  return r;
}

describe('the PostgreSQL state database going away mid-apply', () => {
  it('stops before the next step (exit 3); database + fallback hold every event; apply and rollback wait for the printed reconcile command, then rollback restores', async () => {
    const cluster = await startCluster();
    try {
      const sb = fourChanges();
      const before = sb.snapshot();
      const env = { RUNBOOK_STATE: `${cluster.url()}?schema=runbook` };
      const r = await databaseGoesAwayMidApply(cluster, sb, [], env);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/the state database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres is unreachable/);
      expect(r.stderr).toMatch(/was kept in the local fallback journal .*\.jsonl\. Stopped before the next step/);
      for (const out of [r.stdout, r.stderr]) expect(out).not.toContain(cluster.password);
      // The state came from RUNBOOK_STATE, still set for the next command: the printed commands are exact as they are.
      const [, reconcile, status] = /reconcile with: (.*) — then check the run with: (.*)$/m.exec(r.stderr) ?? [];
      expect(reconcile).toBe(`runbook state migrate --from ${join(sb.state, 'fallback')}`);
      expect(status).toBe(`runbook status ${sb.runbook}`);
      const stopped = sb.snapshot();
      expect(stopped['conf3.txt']).toContain('setting3=old');
      expect(existsSync(join(sb.state, 'runs'))).toBe(false);

      // Nothing lost: the database's events and the fallback's form one sequence without a gap.
      const inDb = databaseSeqs(cluster, 'runbook');
      const local = fallbackEvents(sb);
      expect(local.length).toBeGreaterThan(0);
      expect([...inDb, ...local.map((e) => e.seq)]).toEqual(range(inDb.length + local.length));

      // Until reconciled: status says so, apply and rollback refuse with the exact command and touch nothing.
      const shown = runPrinted(status!, env);
      expect(shown.stdout).toContain(`UNRECONCILED: run `);
      expect(shown.stdout).toContain(`apply and rollback refuse until you run: ${reconcile}`);
      for (const command of ['apply', 'rollback']) {
        const refused = runCli([command, sb.runbook], { env });
        expect(refused.code).toBe(3);
        expect(refused.stderr).toContain(`Nothing was done. Reconcile first with: ${reconcile}\n`);
        expect(sb.snapshot()).toEqual(stopped);
      }

      const reconciled = runPrinted(reconcile!, env);
      expect(reconciled.stderr).toBe('');
      expect(reconciled.code).toBe(0);
      expect(reconciled.stdout).toMatch(new RegExp(`: ${local.length} event\\(s\\) added \\(fallback journal reconciled`));
      expect(databaseSeqs(cluster, 'runbook')).toEqual(range(inDb.length + local.length));
      expect(readdirSync(join(sb.state, 'fallback')).filter((f) => f.endsWith('.jsonl'))).toEqual([]);

      const after = runPrinted(status!, env);
      expect(after.stdout).not.toContain('UNRECONCILED');
      expect(after.stdout).toMatch(/UNFINISHED: run .* restore with: runbook rollback /);
      const rb = runCli(['rollback', sb.runbook], { env });
      expect(rb.code).toBe(0);
      expect(sb.snapshot()).toEqual(before);
    } finally {
      cluster.stop();
    }
  });

  it('with --state on the command line the hint repeats it; a rollback recorded elsewhere meanwhile makes the reconcile fail loudly, keeping the journal', async () => {
    const cluster = await startCluster();
    try {
      const sb = fourChanges();
      const before = sb.snapshot();
      // No password in the URL (it comes from PGPASSWORD), so the printed command is exact with --to.
      const state = `postgres://postgres@127.0.0.1:${cluster.port}/postgres?schema=teamstate`;
      const env = { PGPASSWORD: cluster.password };
      const r = await databaseGoesAwayMidApply(cluster, sb, ['--state', state], env);
      expect(r.code).toBe(3);
      const reconcile = /reconcile with: (.*) — then/m.exec(r.stderr)?.[1];
      expect(reconcile).toBe(`runbook state migrate --from ${join(sb.state, 'fallback')} --to 'postgres://postgres@127.0.0.1:${cluster.port}/postgres?schema=teamstate'`);

      // Another machine (its own local state dir) rolls the run back before this one reconciled: its events take the same seq.
      const elsewhere = runCli(['rollback', sb.runbook, '--state', state, '--state-dir', join(sb.dir, 'other-machine')], { env });
      expect(elsewhere.code).toBe(0);
      expect(sb.snapshot()).toEqual(before);

      const conflict = runPrinted(reconcile!, env);
      expect(conflict.code).toBe(3);
      expect(conflict.stderr).toMatch(/runbook: run \S+ event \d+ differs: the database has rollback\.started .* the journal being imported has step\.finished .* was NOT imported and is kept as it is/);
      expect(fallbackEvents(sb).length).toBeGreaterThan(0);
      // Still pending here: this machine keeps refusing rather than writing over it.
      const refused = runCli(['apply', sb.runbook, '--state', state], { env });
      expect(refused.code).toBe(3);
      expect(refused.stderr).toContain(`Reconcile first with: ${reconcile}`);
    } finally {
      cluster.stop();
    }
  });
});

describe('choosing the PostgreSQL state', () => {
  it('RUNBOOK_STATE from the environment: apply and status use it, runs go to the database, the password is never printed', () => {
    const sb = fourChanges({ onFailure: 'stop' });
    const schema = `env_${Date.now()}`;
    const env = { RUNBOOK_STATE: `${url}?schema=${schema}` };
    const failed = runCli(['apply', sb.runbook, '--var', 'fail_at=2'], { env });
    expect(failed.code).toBe(1);
    expect(existsSync(join(sb.state, 'runs'))).toBe(false);
    expect(psql(`SELECT count(*) FROM "${schema}".runs`).trim()).toBe('1');
    const status = runCli(['status', sb.runbook], { env });
    expect(status.stdout).toMatch(/^state: postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/runbook_test$/m);
    expect(status.stdout).toMatch(/^environment: default$/m);
    // The state comes from the environment, so the command to run is exactly this.
    expect(status.stdout).toContain(`— restore with: runbook rollback ${sb.runbook}\n`);
    const again = runCli(['apply', sb.runbook], { env });
    expect(again.code).toBe(3);
    expect(again.stderr).toContain(`Restore first with: runbook rollback ${sb.runbook}\n`);
    const history = runCli(['history', sb.runbook], { env });
    expect(history.stdout).toMatch(/stopped/);
    for (const out of [failed, status, again, history].flatMap((x) => [x.stdout, x.stderr])) expect(out).not.toContain(password);
    expect(runPrinted(`runbook rollback ${sb.runbook}`, env).code).toBe(0);
  });

  it('printed commands repeat --state (password masked), --state-dir and --environment', () => {
    const sb = fourChanges({ onFailure: 'stop' });
    const state = `${url}?schema=hints_${Date.now()}`;
    const args = ['--state', state, '--environment', 'staging', '--state-dir', join(sb.dir, 'local state')];
    expect(runCli(['apply', sb.runbook, '--var', 'fail_at=2', ...args]).code).toBe(1);
    const rollback = `runbook rollback ${sb.runbook} --state-dir '${join(sb.dir, 'local state')}' --environment staging --state '${state.replace(password, '***')}'`;
    const status = runCli(['status', sb.runbook, ...args]);
    expect(status.stdout).toContain(`— restore with: ${rollback}\n`);
    expect(status.stdout).toMatch(/^environment: staging$/m);
    const again = runCli(['apply', sb.runbook, ...args]);
    expect(again.stderr).toContain(`Restore first with: ${rollback}\n`);
    for (const out of [status.stdout, again.stderr]) expect(out).not.toContain(password);
  });

  it('an unreachable database, a malformed URL or a wrong password: one clear line, exit 2, nothing done', async () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    const port = await freePort();
    const cases: [string[], RegExp][] = [
      [['--state', `postgres://op:Secr3t-pw@127.0.0.1:${port}/teamdb`], new RegExp(`^runbook: the state database postgres://op:\\*\\*\\*@127\\.0\\.0\\.1:${port}/teamdb \\(host 127\\.0\\.0\\.1, port ${port}, database teamdb\\) is unreachable: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}; nothing was done\\n$`)],
      [['--state', 'postgres://op:Secr3t-pw@127.0.0.1:notaport/teamdb'], /^runbook: --state postgres:\/\/\*\*\*@127\.0\.0\.1:notaport\/teamdb is not a valid URL; expected postgres:\/\/user\[:password\]@host\[:port\]\/database\[\?schema=name\]; nothing was done\n$/],
      [['--state', url.replace(password, 'Secr3t-pw')], /^runbook: the state database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/runbook_test \(host 127\.0\.0\.1, port \d+, database runbook_test\) cannot be used: password authentication failed for user "postgres"; nothing was done\n$/],
      [['--state', 'mysql://op:Secr3t-pw@127.0.0.1/x'], /^runbook: unknown state backend "mysql:\/\/\*\*\*@127\.0\.0\.1\/x"; expected postgres:\/\/… or use --state-dir\n$/],
      [['--environment', 'Prod Env'], /^runbook: --environment "Prod Env": expected lowercase letters/],
    ];
    for (const [args, message] of cases) {
      for (const command of ['apply', 'status', 'rollback']) {
        const r = runCli([command, sb.runbook, ...args]);
        expect(r.code, `${command} ${args.join(' ')}`).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr + r.stdout).not.toContain('Secr3t-pw');
        expect(r.stderr).not.toContain('internal error');
      }
    }
    const migrate = runCli(['state', 'migrate', '--from', sb.dir, '--to', `postgres://op:Secr3t-pw@127.0.0.1:${port}/teamdb`]);
    expect(migrate.code).toBe(2);
    expect(migrate.stderr).toMatch(/is unreachable: connect ECONNREFUSED/);
    expect(migrate.stdout).toBe('');
    expect(sb.snapshot()).toEqual(before);
    expect(existsSync(sb.state)).toBe(false);
  });

  it('a state schema migrated by a newer runbook is refused (exit 2) and nothing is written', () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    const schema = `newer_${Date.now()}`;
    const state = `${url}?schema=${schema}`;
    expect(runCli(['status', sb.runbook, '--state', state]).code).toBe(0);
    psql(`INSERT INTO "${schema}".schema_version (version) VALUES (99)`);
    for (const command of ['apply', 'rollback', 'status', 'history']) {
      const r = runCli([command, sb.runbook, '--state', state]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`the state schema "${schema}" is at version 99, newer than this runbook knows`);
    }
    expect(sb.snapshot()).toEqual(before);
    expect(psql(`SELECT count(*) FROM "${schema}".runs`).trim()).toBe('0');
  });
});

describe('what the database holds or refuses', () => {
  it('a schema it cannot create (a role without CREATE on the database, a reserved pg_ name): one clear line, exit 2, nothing done', () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    const name = `team_${Date.now()}`;
    psql(`DROP ROLE IF EXISTS runbook_nocreate; CREATE ROLE runbook_nocreate LOGIN PASSWORD 'Secr3t-pw'`);
    const noCreate = new URL(url);
    noCreate.username = 'runbook_nocreate';
    noCreate.password = 'Secr3t-pw';
    const where = (user: string) => `postgres://${user}:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/runbook_test \\(host 127\\.0\\.0\\.1, port \\d+, database runbook_test\\)`;
    const cases: [string, RegExp][] = [
      [`${noCreate.toString()}?schema=${name}`, new RegExp(`^runbook: the state database ${where('runbook_nocreate')} cannot be used: permission denied for database runbook_test; nothing was done\\n$`)],
      [`${url}?schema=pg_${name}`, new RegExp(`^runbook: the state database ${where('postgres')} cannot be used: unacceptable schema name "pg_${name}"; nothing was done\\n$`)],
    ];
    for (const [state, message] of cases) {
      for (const command of ['apply', 'rollback', 'status', 'history']) {
        const started = Date.now();
        const r = runCli([command, sb.runbook, '--state', state]);
        expect(r.code, `${command} ${state}`).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stdout + r.stderr).not.toContain('Secr3t-pw');
        expect(Date.now() - started).toBeLessThan(10_000);
      }
    }
    expect(sb.snapshot()).toEqual(before);
    expect(existsSync(sb.state)).toBe(false);
    expect(psql(`SELECT count(*) FROM pg_namespace WHERE nspname IN ('${name}', 'pg_${name}')`).trim()).toBe('0');
  });

  it('a row in events that runbook did not write (the table takes only INSERTs) is not taken for an event: no internal error, rollback restores the bytes', () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    const schema = `foreign_rows_${Date.now()}`;
    const state = ['--state', `${url}?schema=${schema}`];
    expect(runCli(['apply', sb.runbook, '--only', 'change-1', ...state]).code).toBe(0);
    expect(runCli(['apply', sb.runbook, '--only', 'change-2', ...state]).code).toBe(0);
    const [older, newer] = psql(`SELECT run_id FROM "${schema}".runs ORDER BY run_id`).trim().split('\n');
    psql(`INSERT INTO "${schema}".events (run_id, seq, at, type, event) VALUES
      ('${older}', -1, now(), 'note', '"garbage"'), ('${older}', 100, now(), 'note', '{}'), ('${newer}', 100, now(), 'note', '[1]'), ('${newer}', 101, now(), 'note', 'null')`);
    const status = runCli(['status', sb.runbook, ...state]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/applied: 1\. change-1 — verified[^]*applied: 2\. change-2 — verified/);
    const history = runCli(['history', sb.runbook, ...state]);
    expect(history.stdout.match(/ applied {2,}change-\d:verified/g)).toHaveLength(2);
    for (const out of [status.stderr, history.stderr]) expect(out).not.toMatch(/internal error/);
    for (let i = 0; i < 2; i++) expect(runCli(['rollback', sb.runbook, ...state]).code).toBe(0);
    expect(sb.snapshot()).toEqual(before);
    expect(runCli(['rollback', sb.runbook, ...state]).stdout).toMatch(/nothing to roll back/);
  });
});

describe('runbook state migrate', () => {
  it('--from .runbook --to URL copies the file history; the run is then rolled back from the database', () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
    const state = `${url}?schema=migrated_${Date.now()}`;
    const r = runCli(['state', 'migrate', '--from', sb.state, '--to', state]);
    expect(r.code).toBe(0);
    // With the snapshots its events reference (one per changed file), from the state dir's snapshot store.
    expect(r.stdout).toMatch(/^\S+ \(four-changes, environment default\): \d+ event\(s\) added \(4 snapshot\(s\) copied\)$/m);
    expect(r.stdout).toMatch(/^migrated 1 run\(s\) and 0 fallback journal\(s\) from .* to postgres:\/\/postgres:\*\*\*@/m);
    expect(r.stdout).not.toContain(password);
    // Again: nothing to add.
    expect(runCli(['state', 'migrate', '--from', sb.state, '--to', state]).stdout).toMatch(/: 0 event\(s\) added/);
    expect(runCli(['history', sb.runbook, '--state', state]).stdout).toMatch(/applied/);
    expect(runCli(['rollback', sb.runbook, '--state', state]).code).toBe(0);
    expect(sb.snapshot()).toEqual(before);
  });

  it('--from .runbook/environments/<name> migrates into that environment', () => {
    const sb = fourChanges();
    expect(runCli(['apply', sb.runbook, '--environment', 'staging']).code).toBe(0);
    const state = `${url}?schema=migrated_env_${Date.now()}`;
    const r = runCli(['state', 'migrate', '--from', join(sb.state, 'environments', 'staging'), '--to', state]);
    expect(r.stdout).toMatch(/\(four-changes, environment staging\): \d+ event\(s\) added/);
    expect(runCli(['history', sb.runbook, '--state', state, '--environment', 'staging']).stdout).toMatch(/applied/);
    expect(runCli(['history', sb.runbook, '--state', state]).stdout).toMatch(/no runs yet/);
  });

  it('needs a source and a database; an empty source says so after checking the database', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-migrate-'));
    expect(runCli(['state', 'migrate', '--to', url]).stderr).toMatch(/needs --from DIR/);
    expect(runCli(['state', 'migrate', '--from', dir]).stderr).toMatch(/needs the database: --to/);
    const missing = runCli(['state', 'migrate', '--from', join(dir, 'nope'), '--to', url]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--from: no directory .*nope/);
    mkdirSync(join(dir, 'empty'));
    const empty = runCli(['state', 'migrate', '--from', join(dir, 'empty')], { env: { RUNBOOK_STATE: `${url}?schema=empty_${Date.now()}` } });
    expect(empty.code).toBe(0);
    expect(empty.stdout).toMatch(/nothing to migrate: no run journals in/);
  });
});

describe.each(['file', 'postgres'] as const)('environments with the %s state backend', (backend) => {
  it('staging and prod of one runbook have their own lock, runs and history; the default layout is unchanged', async () => {
    const sb = fourChanges();
    slow(sb, 3);
    const prodDir = mkdtempSync(join(tmpdir(), 'runbook-prod-'));
    for (let i = 1; i <= 4; i++) writeFileSync(join(prodDir, `conf${i}.txt`), `setting${i}=old\nother=keep\n`);
    const state = backend === 'postgres' ? ['--state', `${url}?schema=envs_${Date.now()}`] : [];
    const staging = [...state, '--environment', 'staging'];
    const prod = { env: { RUNBOOK_ENVIRONMENT: 'prod' } };

    const running = startCli(['apply', sb.runbook, ...staging]);
    await waitFor(() => existsSync(join(sb.dir, 'at-2')));
    // Staging is locked; prod is not.
    const second = runCli(['apply', sb.runbook, ...staging]);
    expect(second.code).toBe(4);
    expect(second.stderr).toMatch(/locked by another run/);
    const prodApply = runCli(['apply', sb.runbook, ...state, '--var', `dir=${prodDir}`], prod);
    expect(prodApply.code).toBe(0);
    expect((await running.done).code).toBe(0);

    const history = (args: string[], opts = {}) => runCli(['history', sb.runbook, ...args], opts).stdout;
    expect(history(staging)).toMatch(/^environment: staging\n\S+ .* applied/);
    expect(history(state, prod)).toMatch(/^environment: prod\n\S+ .* applied/);
    expect(history(state)).toBe('environment: default\nno runs yet\n');
    if (backend === 'file') {
      expect(readdirSync(join(sb.state, 'environments'))).toEqual(['prod', 'staging']);
      expect(existsSync(join(sb.state, 'runs'))).toBe(false);
    }

    // Without --environment, status and rollback say which other environments have runs.
    const plainStatus = runCli(['status', sb.runbook, ...state]);
    expect(plainStatus.stdout).toContain(`other environments with runs: prod, staging (runbook status ${sb.runbook} --environment NAME`);
    expect(plainStatus.stdout).toContain('runs: none yet');
    const plainRollback = runCli(['rollback', sb.runbook, ...state]);
    expect(plainRollback.code).toBe(0);
    expect(plainRollback.stdout).toMatch(/^nothing to roll back/);
    expect(plainRollback.stderr).toContain('note: environment default has nothing to undo; other environments of this runbook have runs: prod, staging');
    expect(readFileSync(join(prodDir, 'conf1.txt'), 'utf8')).toContain('setting1=new');
    expect(runCli(['status', sb.runbook, ...staging]).stdout).toContain('other environments with runs: prod (');

    // A staging run asked for without --environment is not undone here; the error says where it is.
    const stagingRun = history(staging).split('\n')[1]!.split(' ')[0]!;
    const elsewhere = runCli(['rollback', sb.runbook, ...state, '--run', stagingRun]);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain(`no run "${stagingRun}" of environment default in `);
    expect(elsewhere.stderr).toContain(`; it is a run of environment staging: runbook rollback ${sb.runbook} --run ${stagingRun} --environment staging`);
    expect(readFileSync(join(sb.dir, 'conf1.txt'), 'utf8')).toContain('setting1=new');
    expect(runCli(['rollback', sb.runbook, ...state, '--run', 'no-such-run']).stderr).toMatch(/no run "no-such-run" of environment default in [^;]*$/m);

    // Rolling back staging leaves prod applied.
    expect(runCli(['rollback', sb.runbook, ...staging]).code).toBe(0);
    expect(readFileSync(join(sb.dir, 'conf1.txt'), 'utf8')).toContain('setting1=old');
    expect(readFileSync(join(prodDir, 'conf1.txt'), 'utf8')).toContain('setting1=new');
    expect(runCli(['status', sb.runbook, ...state], prod).stdout).toMatch(/^environment: prod\n(.|\n)*applied: 4\. change-4/m);
  });
});
