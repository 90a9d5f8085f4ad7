import { remaining, statusText } from '../../engine/applied-state.js';
import { loadPlan } from '../../engine/load-plan.js';
import { allRuns, isUnsettled, type RunView } from '../../engine/runs.js';
import type { LockHolder } from '../../state/contract.js';
import { describeHolder } from '../../state/lock-file.js';
import { damagedJournal } from '../damaged-journal.js';
import { commandFor } from '../hints.js';
import type { CommonOptions } from '../options.js';
import { reportError } from '../report-error.js';
import { withStore } from '../state.js';

/** Exit 2 when a journal is damaged (DESIGN §5: the state cannot be read as it should). */
export async function run(file: string | undefined, options: CommonOptions): Promise<number> {
  try {
    return await withStore(file!, options, async (store) => {
      const lock = await store.lockHolder();
      const runs = await allRuns(store);
      const plan = await loadPlan(file!, { vars: options.var, varsFiles: options.varsFile }).catch(() => undefined);
      const sums = new Map(plan?.changes.map((c) => [c.change.id, c.checksum]) ?? []);
      const applied = runs.flatMap((r) => remaining(r.state).map((c) => ({ run: r.state.runId, change: c, edited: sums.has(c.id) && sums.get(c.id) !== c.checksum })));
      const live: LockHolder | undefined = lock && !lock.stale && !lock.unreadable ? lock.holder : undefined;
      const ownsLock = (r: RunView) => live !== undefined && live.pid === r.state.pid && live.host === r.state.host;
      const unsettled = runs.filter((r) => !r.corrupt && (isUnsettled(r.state) || (ownsLock(r) && !r.state.finished)));
      const damaged = runs.filter((r) => r.corrupt);
      const unlock = commandFor('unlock', file!, { ...options, varsFile: [] });
      const rollback = commandFor('rollback', file!, options);
      if (options.json) {
        process.stdout.write(
          JSON.stringify({
            state: store.location,
            lock,
            applied: applied.map((a) => ({ run: a.run, id: a.change.id, status: a.change.status, noVerifySteps: a.change.noVerifySteps ?? false, edited: a.edited })),
            unsettled: unsettled.filter((r) => !ownsLock(r)).map((r) => r.state.runId),
            inProgress: unsettled.filter(ownsLock).map((r) => r.state.runId),
            damaged: damaged.map((r) => ({ run: r.state.runId, file: r.corrupt!.path, line: r.corrupt!.line })),
          }) + '\n',
        );
        return damaged.length ? 2 : 0;
      }
      const out: string[] = [`state: ${store.location}`];
      if (!lock) out.push('lock: free');
      else if (lock.unreadable) out.push(`lock: unreadable (${lock.unreadable})\n      if no apply or rollback is running, clear it with: ${unlock} --force`);
      else if (lock.stale) out.push(`lock: STALE — held by ${describeHolder(lock.holder)}\n      the process is gone; clear with: ${unlock}`);
      else out.push(`lock: held by ${describeHolder(lock.holder)}`);
      if (runs.length === 0) out.push('runs: none yet');
      if (applied.length === 0 && runs.length) out.push('applied: nothing (every run was rolled back or none applied anything)');
      for (const a of applied) out.push(`applied: ${a.change.number}. ${a.change.id} — ${statusText(a.change)} (run ${a.run})${a.edited ? ' — warning: edited in the runbook since it was applied' : ''}`);
      for (const r of unsettled) {
        const what = `run ${r.state.runId} (${r.state.outcome ?? 'did not finish'})`;
        if (ownsLock(r)) out.push(`IN PROGRESS: run ${r.state.runId} — ${describeHolder(live!)} holds the lock`);
        else if (live) out.push(`UNFINISHED: ${what} — ${describeHolder(live)} holds the lock now; when it is done: ${rollback}`);
        else out.push(`UNFINISHED: ${what} — restore with: ${rollback}`);
      }
      for (const r of damaged) out.push(`DAMAGED JOURNAL: run ${r.state.runId} — ${r.corrupt!.path} line ${r.corrupt!.line} (see below)`);
      process.stdout.write(out.join('\n') + '\n');
      for (const r of damaged) process.stderr.write(damagedJournal(r.corrupt!, 'The other runs are shown as recorded.', `runbook status`));
      return damaged.length ? 2 : 0;
    });
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
