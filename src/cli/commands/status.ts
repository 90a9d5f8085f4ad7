import { remaining } from '../../engine/applied-state.js';
import type { ResolvedStep } from '../../model/runbook.js';
import { loadPlan } from '../../engine/load-plan.js';
import { allRuns, isUnsettled } from '../../engine/runs.js';
import { stepType } from '../../steps/registry.js';
import { describeHolder } from '../../state/lock-file.js';
import type { CommonOptions } from '../options.js';
import { reportError } from '../report-error.js';
import { environmentOf, runbookCommand, withStore } from '../state.js';

export async function run(file: string | undefined, options: CommonOptions): Promise<number> {
  try {
    return await withStore(file!, options, async (store) => {
      const lock = await store.lockHolder();
      const runs = await allRuns(store);
      const unreconciled = (await store.unreconciled?.()) ?? [];
      const plan = await loadPlan(file!, { vars: options.var, varsFiles: options.varsFile }).catch(() => undefined);
      const sums = new Map(plan?.changes.map((c) => [c.change.id, c.checksum]) ?? []);
      const applied = await Promise.all(
        runs.flatMap((r) =>
          remaining(r.state).map(async (c) => ({ run: r.state.runId, change: c, edited: sums.has(c.id) && sums.get(c.id) !== c.checksum, drifted: await drifted(c.inverses.flat()) })),
        ),
      );
      if (options.json) {
        process.stdout.write(
          JSON.stringify({
            state: store.location,
            environment: environmentOf(options),
            lock,
            unreconciled,
            applied: applied.map((a) => ({ run: a.run, id: a.change.id, status: a.change.status, edited: a.edited, drifted: a.drifted })),
            unsettled: runs.filter((r) => isUnsettled(r.state)).map((r) => r.state.runId),
          }) + '\n',
        );
        return 0;
      }
      const out: string[] = [`state: ${store.location}`, `environment: ${environmentOf(options)}`];
      out.push(lock ? `lock: ${lock.stale ? 'STALE — ' : ''}held by ${describeHolder(lock.holder)}${lock.stale ? `\n      the process is gone; clear with: ${runbookCommand(['unlock', file!], options)}` : ''}` : 'lock: free');
      for (const u of unreconciled) out.push(`UNRECONCILED: run ${u.runId} has ${u.events} event(s) only in the local fallback journal ${u.path}; apply and rollback refuse until you run: ${u.reconcile}`);
      if (runs.length === 0) out.push('runs: none yet');
      if (applied.length === 0 && runs.length) out.push('applied: nothing (every run was rolled back or none applied anything)');
      for (const a of applied) {
        out.push(`applied: ${a.change.number}. ${a.change.id} — ${a.change.status} (run ${a.run})${a.edited ? ' — warning: edited in the runbook since it was applied' : ''}`);
        for (const d of a.drifted) out.push(`  warning: ${d}; runbook rollback will refuse to overwrite it without --force`);
      }
      for (const r of runs.filter((x) => isUnsettled(x.state))) out.push(`UNFINISHED: run ${r.state.runId} (${r.state.outcome ?? 'did not finish'}) — restore with: ${runbookCommand(['rollback', file!], options)}`);
      process.stdout.write(out.join('\n') + '\n');
      return 0;
    });
  } catch (error) {
    return reportError(error, options.verbose);
  }
}

/** What someone else changed since the apply, among what the inverses would restore. */
async function drifted(inverses: ResolvedStep[]): Promise<string[]> {
  const found = await Promise.all(inverses.map((s) => stepType(s.type)?.drift?.(s.params as never)));
  return found.filter((d): d is string => d !== undefined);
}
