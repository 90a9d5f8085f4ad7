import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadPlan } from '../../engine/load-plan.js';
import { loadOptions } from '../load-options.js';
import { createRedactor } from '../../engine/redact.js';
import type { PlanOptions } from '../options.js';
import { stateDirFor } from '../state-dir.js';
import { reportError } from '../report-error.js';

export async function run(file: string | undefined, options: PlanOptions): Promise<number> {
  try {
    // Filled-in values (a templated cron schedule) are checked by validate and apply; a plain
    // review skips that to start fast (plan --check runs steps, so it checks them first).
    const plan = await loadPlan(file!, { ...loadOptions(options), checkFilledValues: options.check });
    const redact = createRedactor(plan.secretValues);
    if (options.format === 'json') {
      const { planJson } = await import('../../render/plan-json.js');
      process.stdout.write(planJson(plan, redact));
    } else if (options.format === 'markdown') {
      const { renderPlanMarkdown } = await import('../../render/plan-markdown.js');
      process.stdout.write(renderPlanMarkdown(plan, redact));
    } else {
      const { renderPlanTable } = await import('../../render/plan-table.js');
      process.stdout.write(renderPlanTable(plan, redact));
    }
    if (existsSync(join(stateDirFor(file!, options.stateDir), 'runs'))) {
      const { withStore } = await import('../state.js');
      const { editedSinceApply } = await import('../edit-warnings.js');
      for (const warning of await withStore(file!, options, (store) => editedSinceApply(plan, store))) process.stderr.write(`${warning}\n`);
    }
    if (!options.check) return 0;
    const { runPreflightOnly } = await import('../../engine/preflight.js');
    const { lineRenderer } = await import('../../render/lines.js');
    process.stdout.write('\nPreflight against the live system:\n');
    const ok = await runPreflightOnly(plan, [lineRenderer(process.stdout, { verbose: options.verbose, total: plan.changes.length })]);
    return ok ? 0 : 1;
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
