import { changeKey, statusText, type ChangeState } from '../../history/applied-state.js';
import { pruneRuns } from '../../history/prune.js';
import { allRuns, type RunView } from '../../history/runs.js';
import { UsageError } from '../../model/diagnostic.js';
import type { StateStore } from '../../state/contract.js';
import { damagedJournal } from '../kit/damaged-journal.js';
import { withLock } from '../kit/locked.js';
import { runbookCommand } from '../kit/next-command.js';
import { environmentOf, withStore } from '../kit/open-store.js';
import type { HistoryOptions } from '../kit/options.js';
import { reportError } from '../kit/report-error.js';

/** One run: how its apply ended, each change's status now, and every later `runbook rollback` of it. */
function runLines(r: RunView): string {
  const { state } = r;
  const ended = r.corrupt ? 'DAMAGED JOURNAL' : (state.applyOutcome ?? 'UNFINISHED');
  const rehearsal = (c: ChangeState) => (c.rehearsal ? `,rehearsal-${c.rehearsal.result}` : '');
  const changes = state.changes.map((c) => `${changeKey(c)}:${statusText(c).replace(' (no verify steps)', '(no-verify)')}${rehearsal(c)}`).join(' ');
  const notes = [r.torn ? ' (torn last line ignored)' : '', r.corrupt ? ` (${r.corrupt.path} line ${r.corrupt.line} is damaged; shown as far as readable)` : ''].join('');
  const lines = [`${state.runId}  ${state.startedAt ?? '?'}  ${ended.padEnd(16)} ${changes}${notes}`];
  for (const rb of state.laterRollbacks) {
    const how = rb.outcome === undefined ? ' (did not finish)' : rb.outcome === 'rolled-back' ? '' : ` (${rb.outcome})`;
    lines.push(`    then ${rb.at}  runbook rollback: rolled back ${rb.undone.join(', ') || 'nothing'}${how}`);
  }
  return lines.join('\n') + '\n';
}

/** `--prune N`, under the lock: what was removed, what was kept and why. */
async function prune(file: string, store: StateStore, keep: number, options: HistoryOptions): Promise<number> {
  return withLock(store, `runbook history ${file} --prune ${keep}`, undefined, async () => {
    const result = await pruneRuns(store, keep);
    const out = process.stdout;
    for (const r of result.removedRuns) out.write(`removed run ${r.runId}${r.outcome ? ` (${r.outcome})` : ''}\n`);
    for (const r of result.keptRuns) out.write(`kept run ${r.runId}: ${r.why}; it is never pruned while so (${runbookCommand(['status', file], options)})\n`);
    const { removed, keptAll } = result.snapshots;
    if (keptAll) out.write(`${keptAll}\n`);
    for (const digest of removed) out.write(`removed snapshot ${digest}\n`);
    out.write(`pruned ${result.removedRuns.length} run(s) and ${removed.length} snapshot(s) no run needs any more; kept the newest ${keep} run(s)${result.keptRuns.length ? ` and ${result.keptRuns.length} older one(s) still needed` : ''} (${store.location})\n`);
    return 0;
  });
}

/** Exit 2 when a journal is damaged; the other runs are listed as recorded. */
export async function run(file: string | undefined, options: HistoryOptions): Promise<number> {
  try {
    if (options.prune !== undefined) {
      if (!/^\d+$/.test(options.prune)) throw new UsageError(`--prune ${JSON.stringify(options.prune)}: expected how many of the newest runs to keep, a whole number such as 10`);
      const keep = Number(options.prune);
      return await withStore(file!, options, (store) => prune(file!, store, keep, options));
    }
    const runs = await withStore(file!, options, allRuns);
    const damaged = runs.filter((r) => r.corrupt);
    if (options.json) {
      process.stdout.write(
        JSON.stringify(
          runs.map((r) => ({
            runId: r.state.runId,
            startedAt: r.state.startedAt,
            outcome: r.state.outcome ?? null,
            applyOutcome: r.state.applyOutcome ?? null,
            finished: r.state.finished,
            changes: r.state.changes.map((c) => ({ id: c.id, ...(c.host !== undefined ? { host: c.host } : {}), status: c.status, noVerifySteps: c.noVerifySteps ?? false, rehearsal: c.rehearsal?.result ?? null })),
            laterRollbacks: r.state.laterRollbacks,
            damaged: r.corrupt ? { file: r.corrupt.path, line: r.corrupt.line } : null,
          })),
        ) + '\n',
      );
      return damaged.length ? 2 : 0;
    }
    process.stdout.write(`environment: ${environmentOf(options)}\n`);
    if (runs.length === 0) process.stdout.write('no runs yet\n');
    for (const r of runs) process.stdout.write(runLines(r));
    for (const r of damaged) process.stderr.write(damagedJournal(r.corrupt!, 'The other runs are listed as recorded.', 'runbook history'));
    return damaged.length ? 2 : 0;
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
