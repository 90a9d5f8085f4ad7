import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { startCluster } from '../../tools/pg-cluster.js';
import { fourChanges } from '../executor/fixture.js';
import { runCli, startCli, waitFor } from '../support/cli.js';

/** A change with a slow step that leaves a marker, so a test knows where the engine is. */
function slow(sb: ReturnType<typeof fourChanges>, seconds: number) {
  writeFileSync(
    sb.runbook,
    readFileSync(sb.runbook, 'utf8').replace(
      '  - id: change-2\n',
      `  - id: change-2\n    rollback:\n      - file: { path: "{{ dir }}/conf2.txt", replace: { from: "setting2=new", to: "setting2=old" } }\n`,
    ).replace('      - name: fault injection point 2\n', `      - run: "touch {{ dir }}/at-2; sleep ${seconds}"\n      - name: fault injection point 2\n`),
  );
}

describe('the PostgreSQL state backend through the CLI', () => {
  it('two machines\' worth of processes: one applies, the other exits 4 naming the holder', async () => {
    const sb = fourChanges({ backend: 'postgres' });
    slow(sb, 3);
    const a = startCli(['apply', sb.runbook, ...sb.stateArgs]);
    await waitFor(() => existsSync(join(sb.dir, 'at-2')));
    // A second process with its own state directory: only the database lock protects.
    const other = runCli(['apply', sb.runbook, ...sb.stateArgs, '--state-dir', join(sb.dir, 'elsewhere')]);
    expect(other.code).toBe(4);
    expect(other.stderr).toMatch(/locked by another run: pid \d+ on \S+ .*runbook apply/);
    expect(other.stderr).not.toContain(inject('pg').password);
    expect((await a.done).code).toBe(0);
    const status = runCli(['status', sb.runbook, ...sb.stateArgs]);
    expect(status.stdout).toMatch(/lock: free/);
    expect(status.stdout).toMatch(/state: postgres:\/\/postgres:\*\*\*@/);
  });

  it('kill -9 of the holder: the server frees the lock, the next apply refuses the unfinished run, rollback restores', async () => {
    const sb = fourChanges({ backend: 'postgres' });
    slow(sb, 30);
    const before = sb.snapshot();
    const a = startCli(['apply', sb.runbook, ...sb.stateArgs]);
    await waitFor(() => existsSync(join(sb.dir, 'at-2')));
    a.child.kill('SIGKILL');
    await a.done;
    const next = runCli(['apply', sb.runbook, ...sb.stateArgs]);
    expect(next.code).toBe(3);
    expect(next.stderr).toMatch(/did not finish cleanly/);
    const rb = runCli(['rollback', sb.runbook, ...sb.stateArgs]);
    expect(rb.code).toBe(0);
    expect(sb.snapshot()).toEqual(before);
  });

  it('the state database going away mid-apply stops the run before the next step; nothing is lost in the local fallback', async () => {
    const cluster = await startCluster();
    try {
      const sb = fourChanges();
      slow(sb, 2);
      const url = `${cluster.url()}?schema=runbook`;
      const a = startCli(['apply', sb.runbook, '--state', url]);
      await waitFor(() => existsSync(join(sb.dir, 'at-2')));
      cluster.stop();
      const r = await a.done;
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/state database .* unreachable/);
      expect(r.stderr).toMatch(/local fallback journal/);
      expect(r.stderr).not.toContain(cluster.password);
      const fallback = join(sb.state, 'fallback');
      const files = readdirSync(fallback);
      expect(files).toHaveLength(1);
      const events = readFileSync(join(fallback, files[0]!), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string });
      expect(events.length).toBeGreaterThan(0);
      // It stopped before the next step: change 3 never started.
      expect(sb.snapshot()['conf3.txt']).toContain('setting3=old');
    } finally {
      cluster.stop();
    }
  });
});
