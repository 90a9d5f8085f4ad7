import { remaining } from '../../engine/applied-state.js';
import { loadPlan } from '../../engine/load-plan.js';
import { loadOptions } from '../load-options.js';
import { allRuns, isUnsettled } from '../../engine/runs.js';
import { describeHolder } from '../../state/lock-file.js';
import type { CommonOptions } from '../options.js';
import { reportError } from '../report-error.js';
import { withStore } from '../state.js';

export async function run(file: string | undefined, options: CommonOptions): Promise<number> {
  try {
    return await withStore(file!, options, async (store) => {
      const lock = await store.lockHolder();
      const runs = await allRuns(store);
      const plan = await loadPlan(file!, loadOptions(options)).catch(() => undefined);
      const sums = new Map(plan?.changes.map((c) => [c.change.id, c.checksum]) ?? []);
      const applied = runs.flatMap((r) => remaining(r.state).map((c) => ({ run: r.state.runId, change: c, edited: sums.has(c.id) && sums.get(c.id) !== c.checksum })));
      if (options.json) {
        process.stdout.write(
          JSON.stringify({
            state: store.location,
            lock,
            applied: applied.map((a) => ({ run: a.run, id: a.change.id, status: a.change.status, edited: a.edited })),
            unsettled: runs.filter((r) => isUnsettled(r.state)).map((r) => r.state.runId),
          }) + '\n',
        );
        return 0;
      }
      const out: string[] = [`state: ${store.location}`];
      out.push(lock ? `lock: ${lock.stale ? 'STALE — ' : ''}held by ${describeHolder(lock.holder)}${lock.stale ? `\n      the process is gone; clear with: runbook unlock ${file}` : ''}` : 'lock: free');
      if (runs.length === 0) out.push('runs: none yet');
      if (applied.length === 0 && runs.length) out.push('applied: nothing (every run was rolled back or none applied anything)');
      for (const a of applied) out.push(`applied: ${a.change.number}. ${a.change.id} — ${a.change.status} (run ${a.run})${a.edited ? ' — warning: edited in the runbook since it was applied' : ''}`);
      for (const r of runs.filter((x) => isUnsettled(x.state))) out.push(`UNFINISHED: run ${r.state.runId} (${r.state.outcome ?? 'did not finish'}) — restore with: runbook rollback ${file}`);
      process.stdout.write(out.join('\n') + '\n');
      return 0;
    });
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
