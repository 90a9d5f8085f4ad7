import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { backend } from '../support/state-backend.js';
import { fourChanges, journalEvents } from './fixture.js';

/** Edits change k in the runbook (same id, another definition): it now edits the file's other line. */
function editChange(runbook: string, k: number): void {
  writeFileSync(runbook, readFileSync(runbook, 'utf8').replace(`replace: { from: "setting${k}=old", to: "setting${k}=new" }`, `replace: { from: "other=keep", to: "other=edited" }`).replace(`grep -q setting${k}=new`, `grep -q other=edited`));
}

describe(`state-aware apply with the ${backend} state backend`, () => {
  it('apply; apply; rollback: the second apply says "already applied" and changes nothing; rollback restores the bytes of before the first apply', () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    const first = sb.cli(['apply', sb.runbook]);
    expect(first.code).toBe(0);
    const firstRun = first.stdout.match(/run (\S+) \(4 changes\)/)?.[1];
    expect(firstRun).toBeDefined();
    const applied = sb.snapshot();

    const second = sb.cli(['apply', sb.runbook]);
    expect(second.code).toBe(0);
    for (let i = 1; i <= 4; i++) expect(second.stdout).toMatch(new RegExp(`already applied: ${i}\\. change-${i} — by run ${firstRun} at \\d{4}-\\d\\d-\\d\\dT[^,]+, same definition; skipped`));
    expect(second.stdout).toMatch(/nothing to apply: all 4 changes are already applied/);
    expect(sb.snapshot()).toEqual(applied);
    // No second run was stacked on the first.
    expect(new Set(journalEvents(sb).filter((e) => e.type === 'run.started').map((e) => e.runId)).size).toBe(1);

    const rb = sb.cli(['rollback', sb.runbook]);
    expect(rb.code).toBe(0);
    expect(sb.snapshot()).toEqual(before);
    expect(rb.stdout).toMatch(/still applied: nothing — the system is as before this run/);
    const status = sb.cli(['status', sb.runbook]);
    expect(status.stdout + status.stderr).not.toMatch(/someone else/);
    expect(sb.cli(['rollback', sb.runbook]).stdout).toMatch(/nothing to roll back/);
  });

  it('applies only what is not applied yet: after --only change-2, a full apply skips change-2 and runs the other three', () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    expect(sb.cli(['apply', sb.runbook, '--only', 'change-2']).code).toBe(0);
    const r = sb.cli(['apply', sb.runbook]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/already applied: 2\. change-2 — by run \S+ at .*; skipped/);
    expect(r.stdout).toMatch(/run \S+ \(3 changes\)/);
    expect(Object.values(sb.snapshot()).every((t) => t.includes('=new'))).toBe(true);
    const started = journalEvents(sb).filter((e) => e.type === 'run.started') as unknown as { skipped?: { id: string }[] }[];
    expect(started[1]?.skipped?.map((s) => s.id)).toEqual(['change-2']);

    // rollback with no --run undoes both runs, newest first; its last line says "as before" only at the very end.
    const rb = sb.cli(['rollback', sb.runbook]);
    expect(rb.code).toBe(0);
    expect(sb.snapshot()).toEqual(before);
    const order = [...rb.stdout.matchAll(/↩ (change-\d) rolled back/g)].map((m) => m[1]);
    expect(order).toEqual(['change-4', 'change-3', 'change-1', 'change-2']);
    const lines = rb.stdout.trimEnd().split('\n');
    expect(lines[lines.length - 1]).toMatch(/the system is as before this run/);
    expect(rb.stdout.match(/as before this run/g)).toHaveLength(1);
  });

  it('rollback --run of the newer run says which older run is still applied, never "as before"', () => {
    const sb = fourChanges();
    expect(sb.cli(['apply', sb.runbook, '--only', 'change-1']).code).toBe(0);
    const second = sb.cli(['apply', sb.runbook, '--only', 'change-3']);
    expect(second.code).toBe(0);
    const runs = [...new Set(journalEvents(sb).filter((e) => e.type === 'run.started').map((e) => e.runId as string))];
    const rb = sb.cli(['rollback', sb.runbook, '--run', runs[1]!]);
    expect(rb.code).toBe(0);
    expect(rb.stdout).not.toMatch(/as before/);
    expect(rb.stdout).toContain(`still applied: nothing of this run; but run ${runs[0]} still has changes applied`);
    expect(sb.snapshot()['conf1.txt']).toContain('setting1=new');
  });

  it('refuses a change applied from another definition before anything runs (exit 2, both ways out); --reapply applies it on top and rollback undoes both', () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    expect(sb.cli(['apply', sb.runbook]).code).toBe(0);
    const runId = journalEvents(sb).find((e) => e.type === 'run.started')!.runId as string;
    editChange(sb.runbook, 3);
    const applied = sb.snapshot();

    const refused = sb.cli(['apply', sb.runbook]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(`3\\. change-3 is applied \\(by run ${runId} at [^)]+\\) from another definition`));
    expect(refused.stderr).toMatch(/Nothing was changed\. Either undo what is applied first: runbook rollback \S+runbook\.yaml/);
    expect(refused.stderr).toMatch(/runbook apply \S+runbook\.yaml --reapply change-3/);
    expect(refused.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(sb.snapshot()).toEqual(applied);
    expect(journalEvents(sb).filter((e) => e.type === 'run.started')).toHaveLength(1);

    const reapplied = sb.cli(['apply', sb.runbook, '--reapply', 'change-3']);
    expect(reapplied.code).toBe(0);
    expect(reapplied.stdout).toMatch(new RegExp(`reapplying: 3\\. change-3 — on top of what run ${runId} at \\S+ applied`));
    expect(reapplied.stdout).toMatch(/run \S+ \(1 change\)/);
    expect(sb.snapshot()['conf3.txt']).toBe('setting3=new\nother=edited\n');
    const started = journalEvents(sb).filter((e) => e.type === 'change.started' && e.changeId === 'change-3') as unknown as { replaces?: { runId: string } }[];
    expect(started[1]?.replaces?.runId).toBe(runId);

    // Now the runbook and what is applied agree: a plain apply skips everything.
    expect(sb.cli(['apply', sb.runbook]).stdout).toMatch(/nothing to apply/);
    const rb = sb.cli(['rollback', sb.runbook]);
    expect(rb.code).toBe(0);
    expect(sb.snapshot()).toEqual(before);
  });

  it('--reapply of a change that is not in the runbook is a usage error', () => {
    const sb = fourChanges();
    const r = sb.cli(['apply', sb.runbook, '--reapply', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no change "nope"/);
  });

  it('a --var that changes what a step does counts as another definition', () => {
    const sb = fourChanges();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('vars: {', 'vars: { level: "new", ').replaceAll('to: "setting1=new"', 'to: "setting1={{ level }}"'));
    expect(sb.cli(['apply', sb.runbook]).code).toBe(0);
    const r = sb.cli(['apply', sb.runbook, '--var', 'level=other']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/1\. change-1 is applied .* from another definition/);
    expect(r.stderr).toMatch(/\(with the same --var options\)/);
  });
});
