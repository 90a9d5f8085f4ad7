import { previewChanges } from '../../engine/dry-run.js';
import type { EventListener } from '../../engine/events.js';
import { selectChanges } from '../../engine/executor.js';
import { loadPlan } from '../../engine/load-plan.js';
import { loadOptions } from '../load-options.js';
import { runPreflightOnly } from '../../engine/preflight.js';
import { createRedactor } from '../../engine/redact.js';
import { newRunId } from '../../engine/run-id.js';
import { allRuns, isUnsettled } from '../../engine/runs.js';
import { remaining } from '../../engine/applied-state.js';
import { UsageError } from '../../model/diagnostic.js';
import type { Plan } from '../../model/plan.js';
import { lineRenderer, ndjsonRenderer } from '../../render/lines.js';
import { renderReport } from '../../render/report.js';
import { confirm, interactive } from '../confirm.js';
import { editedSinceApply } from '../edit-warnings.js';
import { withLock } from '../locked.js';
import type { ApplyOptions } from '../options.js';
import { reportError } from '../report-error.js';
import { interruptControllers } from '../signals.js';
import { withStore } from '../state.js';

async function checkPolicy(plan: Plan, options: ApplyOptions): Promise<number | undefined> {
  const selected = selectChanges(plan, options.only, options.from);
  const over = selected.filter((c) => c.needsAcceptRisk);
  if (over.length && !options.acceptRisk) {
    process.stderr.write(`runbook: ${over.map((c) => `${c.change.id} (risk ${c.change.risk})`).join(', ')} above policy maxRisk ${plan.runbook.policy.maxRisk}; review the plan and pass --accept-risk to apply anyway\n`);
    return 2;
  }
  const toConfirm = selected.filter((c) => c.needsConfirm);
  if (toConfirm.length && !options.yes && !options.dryRun) {
    const list = toConfirm.map((c) => `${c.number}. ${c.change.id} (risk ${c.change.risk}/10)`).join(', ');
    if (!interactive()) {
      process.stderr.write(`runbook: ${list} need confirmation (risk ≥ ${plan.runbook.policy.confirmFrom}); no terminal to ask on: pass --yes\n`);
      return 2;
    }
    if (!(await confirm(`Apply ${list}?`))) {
      process.stderr.write('runbook: not confirmed; nothing was changed\n');
      return 1;
    }
  }
  return undefined;
}

async function dryRun(plan: Plan, options: ApplyOptions): Promise<number> {
  const out = process.stdout;
  out.write(`Dry run of ${plan.runbook.name}: preflight runs for real (read-only); nothing else is changed.\n`);
  const ok = await runPreflightOnly(plan, [lineRenderer(out, { verbose: options.verbose, total: plan.changes.length })]);
  if (plan.checkpoint) out.write(`will run   checkpoint: git commit in ${plan.checkpoint.dir} ("${plan.checkpoint.message}")\n`);
  const redact = createRedactor(plan.secretValues);
  let change = '';
  for (const line of await previewChanges(plan, selectChanges(plan, options.only, options.from))) {
    if (line.change !== change) out.write(`── ${(change = line.change ?? '')}\n`);
    out.write(redact(`${line.verdict.padEnd(14)} ${line.phase.padEnd(6)} ${line.label}${line.detail !== line.label ? ` — ${line.detail}` : ''}\n`));
  }
  return ok ? 0 : 1;
}

async function renderers(plan: Plan, options: ApplyOptions, total: number): Promise<EventListener[]> {
  if (options.json) return [ndjsonRenderer(process.stdout)];
  if (process.stdout.isTTY && !process.env.CI) {
    const { listrRenderer } = await import('../../render/listr.js');
    return [listrRenderer(plan, total, options.verbose)];
  }
  return [lineRenderer(process.stdout, { verbose: options.verbose, total })];
}

export async function run(file: string | undefined, options: ApplyOptions): Promise<number> {
  try {
    const plan = await loadPlan(file!, { ...loadOptions(options), strictEnv: true });
    for (const id of [options.only, options.from]) {
      if (id !== undefined && !plan.changes.some((c) => c.change.id === id)) throw new UsageError(`no change "${id}" in ${file}; changes: ${plan.changes.map((c) => c.change.id).join(', ')}`);
    }
    const refused = await checkPolicy(plan, options);
    if (refused !== undefined) return refused;
    if (options.dryRun) return await dryRun(plan, options);

    return await withStore(file!, options, async (store) => {
      const runId = newRunId();
      return await withLock(store, `runbook apply ${file}`, runId, async () => {
        const runs = await allRuns(store);
        const unsettled = runs.filter((r) => isUnsettled(r.state));
        if (unsettled.length) {
          const r = unsettled[unsettled.length - 1]!;
          const left = remaining(r.state)
            .map((c) => `${c.id} (${c.status})`)
            .join(', ');
          process.stderr.write(
            `runbook: run ${r.state.runId} did not finish cleanly${r.torn ? ' (its journal ends in a torn line, ignored)' : ''}; still applied: ${left}.\n` +
              `Restore first with: runbook rollback ${file}${options.stateDir ? ` --state-dir ${options.stateDir}` : ''}\n`,
          );
          return 3;
        }
        for (const warning of await editedSinceApply(plan, store)) process.stderr.write(`${warning}\n`);

        const journal = await store.createRun(runId);
        const total = selectChanges(plan, options.only, options.from).length;
        const listeners = await renderers(plan, options, total);
        const signals = interruptControllers(() => process.stderr.write('\nsecond interrupt: stopping the rollback after the running step; what is left will be reported\n'));
        const { execute } = await import('../../engine/executor.js');
        try {
          const result = await execute(plan, {
            runId,
            journal,
            listeners,
            signal: signals.apply.signal,
            rollbackSignal: signals.rollback.signal,
            env: process.env,
            only: options.only,
            from: options.from,
            command: `runbook apply ${file}`,
          });
          await Promise.all(listeners.map((l) => (l as { finished?: Promise<void> }).finished));
          const report = createRedactor(plan.secretValues)(renderReport({ ...result, file: file! }));
          (options.json ? process.stderr : process.stdout).write(report);
          for (const message of result.displayErrors) process.stderr.write(`warning: the progress display failed and was turned off (${message}); the run itself was not affected\n`);
          return result.exitCode;
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
