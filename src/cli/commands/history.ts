import { changeKey, statusText } from '../../history/applied-state.js';
import { allRuns, type RunView } from '../../history/runs.js';
import { damagedJournal } from '../kit/damaged-journal.js';
import { environmentOf, withStore } from '../kit/open-store.js';
import type { CommonOptions } from '../kit/options.js';
import { reportError } from '../kit/report-error.js';

/** One run: how its apply ended, each change's status now, and every later `runbook rollback` of it. */
function runLines(r: RunView): string {
  const { state } = r;
  const ended = r.corrupt ? 'DAMAGED JOURNAL' : (state.applyOutcome ?? 'UNFINISHED');
  const changes = state.changes.map((c) => `${changeKey(c)}:${statusText(c).replace(' (no verify steps)', '(no-verify)')}`).join(' ');
  const notes = [r.torn ? ' (torn last line ignored)' : '', r.corrupt ? ` (${r.corrupt.path} line ${r.corrupt.line} is damaged; shown as far as readable)` : ''].join('');
  const lines = [`${state.runId}  ${state.startedAt ?? '?'}  ${ended.padEnd(16)} ${changes}${notes}`];
  for (const rb of state.laterRollbacks) {
    const how = rb.outcome === undefined ? ' (did not finish)' : rb.outcome === 'rolled-back' ? '' : ` (${rb.outcome})`;
    lines.push(`    then ${rb.at}  runbook rollback: rolled back ${rb.undone.join(', ') || 'nothing'}${how}`);
  }
  return lines.join('\n') + '\n';
}

/** Exit 2 when a journal is damaged; the other runs are listed as recorded. */
export async function run(file: string | undefined, options: CommonOptions): Promise<number> {
  try {
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
            changes: r.state.changes.map((c) => ({ id: c.id, ...(c.host !== undefined ? { host: c.host } : {}), status: c.status, noVerifySteps: c.noVerifySteps ?? false })),
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
