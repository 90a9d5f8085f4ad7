import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareRuns, newRunId } from '../../src/model/run-id.js';
import { runCli } from '../support/cli.js';
import { renameRun, runIdsOf } from '../support/state-backend.js';

/** Two changes that write the same file: undoing them in the wrong order leaves the wrong bytes. */
function sameFile() {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-order-'));
  writeFileSync(join(dir, 'f.txt'), 'original\n');
  const change = (id: string) => `  - id: ${id}\n    title: ${id}\n    risk: 0\n    apply:\n      - file: { path: f.txt, content: "${id}\\n" }\n    verify:\n      - run: "grep -q ${id} f.txt"\n`;
  const runbook = join(dir, 'rb.yaml');
  writeFileSync(runbook, `runbook: 1\nname: order\ntitle: Order\nchanges:\n${change('first')}${change('second')}`);
  return { dir, runbook, content: () => readFileSync(join(dir, 'f.txt'), 'utf8') };
}

describe('the order of runs', () => {
  it('a later run is undone first even when the clock stepped back between the two runs', async () => {
    const sb = sameFile();
    expect(runCli(['apply', sb.runbook, '--only', 'first']).code).toBe(0);
    // The first run was made by a clock an hour ahead (then corrected by NTP): its id says so.
    const [first] = await runIdsOf(sb.runbook);
    const ahead = `${new Date(Date.now() + 3600_000).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-ffff`;
    renameRun(sb.runbook, first!, ahead);
    expect(await runIdsOf(sb.runbook)).toEqual([ahead]);
    expect(runCli(['apply', sb.runbook, '--only', 'second']).code).toBe(0);
    // The second run's id is made later than the first's, whatever the clock says now.
    expect((await runIdsOf(sb.runbook))[0]).toBe(ahead);
    const history = runCli(['history', sb.runbook])
      .stdout.split('\n')
      .filter((line) => /^\d{8}T/.test(line));
    expect(history[0]).toMatch(/first:verified/);
    expect(history[1]).toMatch(/second:verified/);
    // One rollback undoes both runs, the later one first.
    const rb = runCli(['rollback', sb.runbook]);
    expect(rb.code).toBe(0);
    expect([...rb.stdout.matchAll(/↩ (\w+) rolled back/g)].map((m) => m[1])).toEqual(['second', 'first']);
    expect(sb.content()).toBe('original\n');
    expect(runCli(['rollback', sb.runbook]).stdout).toMatch(/nothing to roll back/);
  });

  it('ids are later than every existing one, to the millisecond; ids from before ms precision sort by their second', () => {
    const at = new Date('2026-11-24T10:15:02.123Z');
    expect(newRunId([], at)).toMatch(/^20261124T101502\.123Z-[0-9a-f]{4}$/);
    expect(newRunId(['20261124T101502.123Z-ffff'], at)).toMatch(/^20261124T101502\.124Z-/);
    expect(newRunId(['20261124T111502Z-0000'], at)).toMatch(/^20261124T111502\.001Z-/);
    const ids = ['20261124T101502.500Z-0000', '20261124T101502Z-ffff', '20261124T101501.999Z-aaaa', '20261124T101502.001Z-1111'];
    expect(ids.map((runId) => ({ runId })).sort(compareRuns).map((r) => r.runId)).toEqual(['20261124T101501.999Z-aaaa', '20261124T101502Z-ffff', '20261124T101502.001Z-1111', '20261124T101502.500Z-0000']);
  });
});
