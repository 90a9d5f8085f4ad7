import { changeKey, remaining, statusText } from '../../history/applied-state.js';
import { inversesAgainstLastWrite } from '../../history/last-written.js';
import { missingSnapshots } from '../../history/snapshots-needed.js';
import { allRuns, isUnsettled, type RunView } from '../../history/runs.js';
import type { ResolvedStep } from '../../model/runbook.js';
import { loadPlan } from '../../plan/load-plan.js';
import type { LockHolder } from '../../state/contract.js';
import { deadHolder, describeHolder } from '../../state/file/lock-file.js';
import { stepType } from '../../steps/registry.js';
import { damagedJournal } from '../kit/damaged-journal.js';
import { loadOptions } from '../kit/load-options.js';
import { runbookCommand } from '../kit/next-command.js';
import { environmentOf, withStore } from '../kit/open-store.js';
import type { CommonOptions } from '../kit/options.js';
import { reportError } from '../kit/report-error.js';
import { otherEnvironmentsWithRuns } from '../kit/run-environment.js';
import { plannedChecksums } from '../kit/planned-checksums.js';
import { localTarget } from '../../steps/kit/local-target.js';

/**
 * Exit 2 when a journal is damaged (DESIGN §5: the state cannot be read as it should); else 3
 * when a run is unfinished (not one running now): manual action needed, the command is printed.
 */
export async function run(file: string | undefined, options: CommonOptions): Promise<number> {
  try {
    return await withStore(file!, options, async (store) => {
      const lock = await store.lockHolder();
      const runs = await allRuns(store);
      const unreconciled = (await store.unreconciled?.()) ?? [];
      const plan = await loadPlan(file!, loadOptions(options)).catch(() => undefined);
      const sums = plannedChecksums(plan);
      // A file two changes (or runs) edited is compared with what the runs last wrote to it, not with each change's own "after".
      const inverses = inversesAgainstLastWrite(runs);
      const warned = new Set<string>();
      const applied = await Promise.all(
        runs.flatMap((r) =>
          remaining(r.state).map(async (c) => ({
            run: r.state.runId,
            change: c,
            edited: sums.has(changeKey(c)) && sums.get(changeKey(c)) !== c.checksum,
            // On a host, drift is read there when the rollback runs (status does not open ssh connections).
            drifted: c.host === undefined ? await drifted(inverses.get(c) ?? c.inverses.flat()) : [],
          })),
        ),
      );
      // The same drifted file is named once, under the first change that touched it.
      for (const a of applied) a.drifted = a.drifted.filter((d) => !warned.has(d) && warned.add(d));
      const lost = await missingSnapshots(store, runs);
      const live: LockHolder | undefined = lock && !lock.stale && !lock.unreadable ? lock.holder : undefined;
      const ownsLock = (r: RunView) => live !== undefined && live.pid === r.state.pid && live.host === r.state.host;
      const unsettled = runs.filter((r) => !r.corrupt && (isUnsettled(r.state) || (ownsLock(r) && !r.state.finished)));
      const damaged = runs.filter((r) => r.corrupt);
      const unlock = runbookCommand(['unlock', file!], { ...options, varsFile: [] });
      const rollback = runbookCommand(['rollback', file!], options);
      const others = await otherEnvironmentsWithRuns(file!, options, store);
      const exitCode = () => (damaged.length ? 2 : unsettled.some((r) => !ownsLock(r)) ? 3 : 0);
      if (options.json) {
        process.stdout.write(
          JSON.stringify({
            state: store.location,
            environment: environmentOf(options),
            otherEnvironments: others,
            lock,
            unreconciled,
            applied: applied.map((a) => ({ run: a.run, id: a.change.id, ...(a.change.host !== undefined ? { host: a.change.host } : {}), status: a.change.status, noVerifySteps: a.change.noVerifySteps ?? false, edited: a.edited, drifted: a.drifted })),
            unsettled: unsettled.filter((r) => !ownsLock(r)).map((r) => r.state.runId),
            inProgress: unsettled.filter(ownsLock).map((r) => r.state.runId),
            damaged: damaged.map((r) => ({ run: r.state.runId, file: r.corrupt!.path, line: r.corrupt!.line })),
            missingSnapshots: lost,
          }) + '\n',
        );
        return exitCode();
      }
      const out: string[] = [`state: ${store.location}`, `environment: ${environmentOf(options)}`];
      if (others.length) out.push(`other environments with runs: ${others.join(', ')} (${runbookCommand(['status', file!], { ...options, environment: 'NAME' })})`);
      if (!lock) out.push('lock: free');
      else if (lock.unreadable) out.push(`lock: unreadable (${lock.unreadable})\n      if no apply or rollback is running, clear it with: ${unlock} --force`);
      else if (lock.stale && deadHolder(lock.holder)) out.push(`lock: left by a dead process — ${describeHolder(lock.holder)} (${deadHolder(lock.holder)}); the next apply or rollback takes it over`);
      else if (lock.stale) out.push(`lock: STALE — held by ${describeHolder(lock.holder)}\n      the process is gone; clear with: ${unlock}`);
      else out.push(`lock: held by ${describeHolder(lock.holder)}`);
      for (const u of unreconciled) out.push(`UNRECONCILED: run ${u.runId} has ${u.events} event(s) only in the local fallback journal ${u.path}; apply and rollback refuse until you run: ${u.reconcile}`);
      if (runs.length === 0) out.push('runs: none yet');
      if (applied.length === 0 && runs.length) out.push('applied: nothing (every run was rolled back or none applied anything)');
      for (const a of applied) {
        out.push(`applied: ${a.change.number}. ${changeKey(a.change)} — ${statusText(a.change)} (run ${a.run})${a.edited ? ' — warning: edited in the runbook since it was applied' : ''}`);
        for (const d of a.drifted) out.push(`  warning: ${d}; runbook rollback will refuse to overwrite it without --force`);
      }
      for (const m of lost) out.push(`MISSING SNAPSHOT: ${m.what} (change ${m.changeId}, run ${m.runId}) — ${m.digest} is not in ${store.snapshots.location}; runbook rollback will stop before writing anything (exit 3) until it is put back`);
      for (const r of unsettled) {
        const what = `run ${r.state.runId} (${r.state.outcome ?? 'did not finish'})`;
        if (ownsLock(r)) out.push(`IN PROGRESS: run ${r.state.runId} — ${describeHolder(live!)} holds the lock`);
        else if (live) out.push(`UNFINISHED: ${what} — ${describeHolder(live)} holds the lock now; when it is done: ${rollback}`);
        else out.push(`UNFINISHED: ${what} — restore with: ${rollback}`);
      }
      for (const r of damaged) out.push(`DAMAGED JOURNAL: run ${r.state.runId} — ${r.corrupt!.path} line ${r.corrupt!.line} (see below)`);
      process.stdout.write(out.join('\n') + '\n');
      for (const r of damaged) process.stderr.write(damagedJournal(r.corrupt!, 'The other runs are shown as recorded.', `runbook status`));
      return exitCode();
    });
  } catch (error) {
    return reportError(error, options.verbose);
  }
}

/** What someone else changed since the apply, among what the inverses would restore. */
async function drifted(inverses: ResolvedStep[]): Promise<string[]> {
  const found = await Promise.all(inverses.map((s) => stepType(s.type)?.drift?.(s.params as never, localTarget('/'))));
  return found.filter((d): d is string => d !== undefined);
}
