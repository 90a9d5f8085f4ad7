import { allRuns } from '../../engine/runs.js';
import type { CommonOptions } from '../options.js';
import { reportError } from '../report-error.js';
import { environmentOf, withStore } from '../state.js';

export async function run(file: string | undefined, options: CommonOptions): Promise<number> {
  try {
    const runs = await withStore(file!, options, allRuns);
    if (options.json) {
      process.stdout.write(JSON.stringify(runs.map((r) => ({ runId: r.state.runId, startedAt: r.state.startedAt, outcome: r.state.outcome ?? null, finished: r.state.finished, changes: r.state.changes.map((c) => ({ id: c.id, status: c.status })) }))) + '\n');
      return 0;
    }
    process.stdout.write(`environment: ${environmentOf(options)}\n`);
    if (runs.length === 0) process.stdout.write('no runs yet\n');
    for (const r of runs) {
      const changes = r.state.changes.map((c) => `${c.id}:${c.status}`).join(' ');
      process.stdout.write(`${r.state.runId}  ${r.state.startedAt ?? '?'}  ${(r.state.outcome ?? 'UNFINISHED').padEnd(16)} ${changes}${r.torn ? ' (torn last line ignored)' : ''}\n`);
    }
    return 0;
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
