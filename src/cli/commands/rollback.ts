import { dirname, resolve } from 'node:path';
import { remaining, type ChangeState } from '../../engine/applied-state.js';
import { Emitter } from '../../engine/emitter.js';
import { loadPlan } from '../../engine/load-plan.js';
import { loadOptions } from '../load-options.js';
import { createRedactor } from '../../engine/redact.js';
import { rollbackChanges } from '../../engine/rollback.js';
import { allRuns, lastRunWithChanges, readRunState } from '../../engine/runs.js';
import { secretValues } from '../../engine/secrets.js';
import { UsageError } from '../../model/diagnostic.js';
import type { Plan } from '../../model/plan.js';
import { lineRenderer, ndjsonRenderer } from '../../render/lines.js';
import { renderReport } from '../../render/report.js';
import { confirm, interactive } from '../confirm.js';
import type { RollbackOptions } from '../options.js';
import { withLock } from '../locked.js';
import { reportError } from '../report-error.js';
import { interruptControllers } from '../signals.js';
import { withStore } from '../state.js';

/** The runbook as it is now, if it still loads: only for secret values and edit warnings. */
async function currentPlan(file: string, options: RollbackOptions): Promise<Plan | undefined> {
  try {
    return await loadPlan(file, loadOptions(options));
  } catch {
    return undefined;
  }
}

export async function run(file: string | undefined, options: RollbackOptions): Promise<number> {
  try {
    return await withStore(file!, options, async (store) => {
      return await withLock(store, `runbook rollback ${file}`, undefined, async () => {
        const runs = await allRuns(store);
        const withCheckpoint = [...runs].reverse().find((r) => r.state.checkpoint);
        const target = options.run ? await readRunState(store, options.run).catch(() => undefined) : (lastRunWithChanges(runs) ?? (options.checkpoint ? withCheckpoint : undefined));
        if (options.run && !target) throw new UsageError(`no run "${options.run}" in ${store.location}`);
        if (!target || (remaining(target.state).length === 0 && !(options.checkpoint && target.state.checkpoint))) {
          process.stdout.write(`nothing to roll back${target ? ` in run ${target.state.runId}` : ''}: no change is applied\n`);
          return 0;
        }
        const { state } = target;
        if (options.checkpoint && state.checkpoint && !options.force) {
          const { foreignChanges } = await import('../../steps/git.js');
          const foreign = await foreignChanges(
            state.checkpoint.dir,
            state.checkpoint.commit,
            state.changes.flatMap((c) => c.paths),
          );
          if (foreign.length > 0) {
            process.stderr.write(
              `runbook: refusing to reset ${state.checkpoint.dir} to checkpoint ${state.checkpoint.commit.slice(0, 12)}: it has changes that are not this run's own:\n${foreign.map((f) => `  ${f}`).join('\n')}\n` +
                `Nothing was changed. Look at them, then run again with --force to discard them (or without --checkpoint to undo only the run's changes).\n`,
            );
            return 3;
          }
        }
        if (target.torn) process.stderr.write(`note: the journal of run ${state.runId} ends in a torn line (a crash while writing); it was ignored, nothing before it is lost\n`);
        let toUndo: ChangeState[] = [...remaining(state)].reverse();
        if (options.to) {
          const at = toUndo.findIndex((c) => c.id === options.to);
          if (at < 0) throw new UsageError(`change "${options.to}" is not applied in run ${state.runId}; applied: ${toUndo.map((c) => c.id).join(', ')}`);
          toUndo = toUndo.slice(0, at + 1);
        }
        const plan = await currentPlan(file!, options);
        if (plan) {
          const sums = new Map(plan.changes.map((c) => [c.change.id, c.checksum]));
          for (const c of toUndo) if (sums.has(c.id) && sums.get(c.id) !== c.checksum) process.stderr.write(`warning: ${c.id} was edited in ${file} since it was applied; undoing what was recorded at apply time\n`);
        }
        if (interactive() && !options.yes && !(await confirm(`Roll back ${toUndo.map((c) => c.id).join(', ')} (run ${state.runId})?`))) {
          process.stderr.write('runbook: not confirmed; nothing was changed\n');
          return 1;
        }
        const secrets = secretValues([...new Set([...state.secrets, ...(plan?.runbook.secrets ?? [])])], plan?.vars ?? {}, process.env);
        const redact = createRedactor([...(plan?.secretValues ?? []), ...secrets.values()]);
        const journal = await store.openRun(state.runId);
        const listeners = options.json ? [ndjsonRenderer(process.stdout)] : [lineRenderer(process.stdout, { verbose: options.verbose, total: state.changes.length })];
        const emitter = new Emitter(journal, listeners, redact);
        const signals = interruptControllers(() => undefined);
        const started = performance.now();
        try {
          const base = { runbookDir: dirname(resolve(file!)), env: process.env, recorded: { checkpointCommit: state.checkpoint?.commit, checkpointDir: state.checkpoint?.dir }, output: () => {} };
          const result = await rollbackChanges(toUndo, 'runbook rollback', emitter, base, secrets, signals.apply.signal);
          let checkpointNote = '';
          if (result.ok && options.checkpoint) {
            if (!state.checkpoint) checkpointNote = 'no checkpoint was recorded for this run; --checkpoint had nothing to reset';
            else {
              const { resetToCheckpoint } = await import('../../steps/git.js');
              try {
                await resetToCheckpoint(state.checkpoint.dir, state.checkpoint.commit, { force: options.force, ownPaths: state.changes.flatMap((c) => c.paths) });
                checkpointNote = `reset ${state.checkpoint.dir} to checkpoint ${state.checkpoint.commit.slice(0, 12)}`;
              } catch (error) {
                process.stderr.write(`runbook: the changes were rolled back, but resetting to the checkpoint failed: ${(error as Error).message}\n`);
                return 3;
              }
            }
          }
          const after = (await readRunState(store, state.runId)).state;
          const outcome = result.ok ? 'rolled-back' : 'rollback-failed';
          const exitCode = result.ok ? 0 : 3;
          await emitter.emit({ type: 'run.finished', outcome, exitCode, remaining: remaining(after).map((c) => c.id), durationMs: performance.now() - started }, true);
          const final = (await readRunState(store, state.runId)).state;
          const out = options.json ? process.stderr : process.stdout;
          out.write(redact(renderReport({ state: final, outcome, rollbackFailure: result.failed, file: file!, command: 'rollback' })));
          if (checkpointNote) out.write(`${checkpointNote}\n`);
          return exitCode;
        } finally {
          signals.dispose();
          await journal.close();
        }
      });
    });
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
