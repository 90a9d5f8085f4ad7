import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LastRehearsal } from '../../history/rehearsals.js';
import type { EngineEvent } from '../../model/events.js';
import type { Plan } from '../../model/plan.js';
import { loadPlan } from '../../plan/load-plan.js';
import type { LiveCheck } from '../../render/plan/plan-markdown.js';
import { createRedactor } from '../../secrets/redact.js';
import { loadOptions } from '../kit/load-options.js';
import type { PlanOptions } from '../kit/options.js';
import { reportError } from '../kit/report-error.js';
import { stateDirFor } from '../kit/state-dir.js';

/** `--check` for the report formats: the preflight's results, to print inside the document. */
async function liveChecks(plan: Plan): Promise<LiveCheck[]> {
  const { runPreflightOnly } = await import('../../run/preflight.js');
  const results: LiveCheck[] = [];
  await runPreflightOnly(plan, [
    (e: EngineEvent) => {
      if (e.type === 'step.finished' && e.phase === 'preflight') results[e.index] = { label: e.label, ok: e.ok, detail: e.ok ? e.detail : e.failure?.message };
    },
  ]);
  return results.filter(Boolean);
}

async function readHistory(plan: Plan, file: string, options: PlanOptions): Promise<{ warnings: string[]; rehearsals: Map<string, LastRehearsal> }> {
  const { withStore } = await import('../kit/open-store.js');
  const { editedSinceApply } = await import('../kit/edit-warnings.js');
  const { allRuns } = await import('../../history/runs.js');
  const { lastRehearsals } = await import('../../history/rehearsals.js');
  const read = () => withStore(file, options, async (store) => ({ warnings: await editedSinceApply(plan, store), rehearsals: lastRehearsals(await allRuns(store)) }));
  if (options.state === undefined) return read();
  // A review must not depend on the team's state database being reachable: without it, plan shows no history.
  try {
    return await read();
  } catch (error) {
    return { warnings: [`runbook: the state (--state) could not be read, so the last rehearsals are not shown: ${(error as Error).message}`], rehearsals: new Map() };
  }
}

/**
 * Exit code: 0 the plan was shown (also when it is outside policy: the output says so);
 * 1 `--check` found a failing preflight check, or `--strict` and the plan is outside policy;
 * 2 invalid runbook or usage.
 */
export async function run(file: string | undefined, options: PlanOptions): Promise<number> {
  try {
    // Filled-in values (a templated cron schedule) are checked by validate and apply; a plain
    // review skips that to start fast (plan --check runs steps, so it checks them first).
    // A saved plan is resolved as apply will resolve it (an unset {{ env.X }} is an error), so that apply can compare.
    const plan = await loadPlan(file!, { ...loadOptions(options), checkFilledValues: options.check || options.out !== undefined, strictEnv: options.out !== undefined });
    const redact = createRedactor(plan.secretValues);
    // History, when this runbook has some: edits since apply (warnings), and each change's last rollback rehearsal.
    const history = options.state !== undefined || existsSync(join(stateDirFor(file!, options.stateDir), 'runs')) ? await readHistory(plan, file!, options) : undefined;
    const rehearsals = history?.rehearsals;
    let checked: boolean | undefined;
    if (options.format === 'json' || options.format === 'markdown') {
      const live = options.check ? await liveChecks(plan) : undefined;
      if (live) checked = live.every((r) => r.ok);
      if (options.format === 'json') {
        const { planJsonPieces } = await import('../../render/plan/plan-json.js');
        // Written ~1 MB at a time: a large plan's document and text are never all in memory.
        let text = '';
        for (const piece of planJsonPieces(plan, redact, live, rehearsals)) {
          text += piece;
          if (text.length < 1 << 20) continue;
          process.stdout.write(text);
          text = '';
        }
        process.stdout.write(text);
      } else {
        const { renderPlanMarkdown } = await import('../../render/plan/plan-markdown.js');
        process.stdout.write(renderPlanMarkdown(plan, redact, live, rehearsals));
      }
    } else {
      const { renderPlanTable } = await import('../../render/plan/plan-table.js');
      process.stdout.write(renderPlanTable(plan, redact, { width: process.stdout.isTTY ? process.stdout.columns : undefined, rehearsals }));
    }
    if (options.out !== undefined) {
      const { writeSavedPlan } = await import('../kit/plan-file.js');
      const saved = await writeSavedPlan(options.out, plan, file!, options);
      process.stderr.write(`plan saved to ${options.out} (environment ${saved.environment}; secrets it needs at apply: ${saved.secrets.join(', ') || 'none'}); apply exactly this plan with: runbook apply ${options.out}\n`);
    }
    for (const warning of history?.warnings ?? []) process.stderr.write(`${warning}\n`);
    if (options.check && checked === undefined) {
      const { runPreflightOnly } = await import('../../run/preflight.js');
      const { lineRenderer } = await import('../../render/progress/lines.js');
      process.stdout.write('\nPreflight against the live system:\n');
      checked = await runPreflightOnly(plan, [lineRenderer(process.stdout, { verbose: options.verbose, total: plan.changes.length })]);
    }
    if (checked === false) return 1;
    if (options.strict && !plan.verdict.ok) {
      process.stderr.write(`runbook: outside policy (--strict): ${plan.verdict.text}\n`);
      return 1;
    }
    return 0;
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
