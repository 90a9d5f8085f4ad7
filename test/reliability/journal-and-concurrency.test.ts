import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJournalFile } from '../../src/state/file/journal-file.js';
import { fourChanges } from '../executor/fixture.js';
import { runCli, runCliAsync, startCli, waitFor } from '../support/cli.js';

describe('journal durability', () => {
  it('a journal cut at every byte offset of its last event loses only that event, and the CLI says so', () => {
    const sb = fourChanges();
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
    const runs = join(sb.state, 'runs');
    const file = join(runs, readdirSync(runs)[0]!);
    const text = readFileSync(file, 'utf8');
    const lines = text.trimEnd().split('\n');
    const full = lines.length;
    const lastStart = Buffer.byteLength(text.slice(0, text.trimEnd().lastIndexOf('\n') + 1));
    const size = Buffer.byteLength(text);
    let cuts = 0;
    for (let offset = lastStart; offset < size; offset++) {
      const copy = join(sb.dir, 'cut.jsonl');
      copyFileSync(file, copy);
      truncateSync(copy, offset);
      const read = readJournalFile(copy);
      const complete = offset === size - 1 && text.endsWith('}\n');
      expect(read.events.length, `cut at ${offset}`).toBe(offset === lastStart || complete ? (complete ? full : full - 1) : full - 1);
      expect(read.torn, `cut at ${offset}`).toBe(offset !== lastStart && !complete);
      expect(read.events.map((e) => e.seq)).toEqual(Array.from({ length: read.events.length }, (_, i) => i));
      cuts++;
    }
    expect(cuts).toBeGreaterThan(50);
    // The CLI on a torn journal: says so, loses nothing before it.
    truncateSync(file, size - 10);
    const history = runCli(['history', sb.runbook]);
    expect(history.stdout).toMatch(/torn last line ignored/);
    const rb = runCli(['rollback', sb.runbook]);
    expect(rb.code).toBe(0);
    expect(rb.stderr).toMatch(/torn line/);
    expect(Object.values(sb.snapshot()).every((t) => t.includes('=old'))).toBe(true);
  });
});

describe('concurrent operators', () => {
  it('of 10 applies started at once on one state dir exactly one runs; the rest exit 4 naming the holder', async () => {
    // The lock holder's step waits for a file this test creates once the nine others have exited, so the holder
    // cannot finish before any of them tries the lock, however slowly they start.
    const sb = fourChanges({ extraApply: { 1: '      - run: "while [ ! -e {{ dir }}/release ]; do sleep 0.05; done"\n        timeout: 5m\n' } });
    const release = join(sb.dir, 'release');
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('  - id: change-1\n', '  - id: change-1\n    rollback: [ { file: { path: "{{ dir }}/conf1.txt", replace: { from: "setting1=new", to: "setting1=old" } } } ]\n'));
    try {
      const applies = Array.from({ length: 10 }, () => startCli(['apply', sb.runbook]));
      let exited = 0;
      for (const a of applies) void a.done.then(() => exited++);
      await waitFor(() => exited >= 9, 60_000);
      writeFileSync(release, '');
      const results = await Promise.all(applies.map((a) => a.done));
      const codes = results.map((r) => r.code).sort();
      expect(codes.filter((c) => c === 0)).toHaveLength(1);
      expect(codes.filter((c) => c === 4)).toHaveLength(9);
      for (const r of results.filter((x) => x.code === 4)) expect(r.stderr).toMatch(new RegExp(`locked by another run: pid \\d+ on ${hostname()}`));
      expect(readdirSync(join(sb.state, 'runs'))).toHaveLength(1);
      // Rollbacks racing an apply: the same one lock (the apply holds it until the release file is back).
      // Undone first: an apply of what is already applied would only say so and let the lock go.
      expect((await runCliAsync(['rollback', sb.runbook])).code).toBe(0);
      rmSync(release);
      const apply = startCli(['apply', sb.runbook]);
      await waitFor(() => existsSync(join(sb.state, 'lock')));
      const rollbacks = await Promise.all(Array.from({ length: 5 }, () => runCliAsync(['rollback', sb.runbook])));
      expect(rollbacks.map((r) => r.code)).toEqual([4, 4, 4, 4, 4]);
      writeFileSync(release, '');
      expect((await apply.done).code).toBe(0);
    } finally {
      writeFileSync(release, ''); // never leave an apply waiting
    }
  });
});

describe('rollback failure', () => {
  it('exits 3 listing what remains and how to finish; a later rollback retries only what is left', () => {
    const sb = fourChanges();
    const log = join(sb.dir, 'undo.log');
    // Change 2's undo fails until the operator creates allow-undo.
    writeFileSync(
      sb.runbook,
      readFileSync(sb.runbook, 'utf8')
        .replace('  - id: change-2\n', `  - id: change-2\n    rollback:\n      - run: "test -e {{ dir }}/allow-undo && echo undo-2 >> ${log}"\n      - file: { path: "{{ dir }}/conf2.txt", replace: { from: "setting2=new", to: "setting2=old" } }\n`)
        .replace('  - id: change-3\n', `  - id: change-3\n    rollback:\n      - run: "echo undo-3 >> ${log}"\n      - file: { path: "{{ dir }}/conf3.txt", replace: { from: "setting3=new", to: "setting3=old" } }\n`),
    );
    const before = sb.snapshot();
    const r = runCli(['apply', sb.runbook, '--var', 'fail_at=3']);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/ROLLBACK FAILED — manual action needed/);
    expect(r.stdout).toMatch(/rollback of change-2 failed:/);
    expect(r.stdout).toMatch(/command: test -e .*allow-undo/);
    // The whole tail, exactly: what remains (nothing more), and every undo step left, in order.
    expect(r.stdout.slice(r.stdout.indexOf('still applied:'))).toBe(
      [
        'still applied: 1. change-1 (verified), 2. change-2 (rollback-failed)',
        'to finish by hand, in this order:',
        `  change-2: test -e ${sb.dir}/allow-undo && echo undo-2 >> ${log}`,
        `  change-2: replace in ${sb.dir}/conf2.txt`,
        `  change-1: restore ${sb.dir}/conf1.txt`,
        `or fix the cause above, then run: runbook rollback ${sb.runbook}   (it continues with what is left)`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(sb.dir, 'allow-undo'), '');
    const again = runCli(['rollback', sb.runbook]);
    expect(again.code).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe('undo-3\nundo-2\n');
    const now = sb.snapshot();
    for (const [f, t] of Object.entries(before)) expect(now[f], f).toBe(t);
  });
});

describe('interrupts at more points', () => {
  it('SIGINT during verify retries rolls back and exits 130', async () => {
    const sb = fourChanges();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('      - name: fault injection point 2\n', '      - run: "touch {{ dir }}/retrying; false"\n        retries: 100\n        interval: 100ms\n      - name: fault injection point 2\n'));
    const before = sb.snapshot();
    const run = startCli(['apply', sb.runbook]);
    await waitFor(() => existsSync(join(sb.dir, 'retrying')));
    await new Promise((r) => setTimeout(r, 300));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(sb.snapshot()).toEqual(before);
  });
});
