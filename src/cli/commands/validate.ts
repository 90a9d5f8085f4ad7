import { loadPlan } from '../../engine/load-plan.js';
import type { CommonOptions } from '../options.js';
import { reportError } from '../report-error.js';

export async function run(file: string | undefined, options: CommonOptions): Promise<number> {
  try {
    const plan = await loadPlan(file!, { vars: options.var, varsFiles: options.varsFile });
    if (options.json) process.stdout.write(JSON.stringify({ valid: true, file: plan.runbook.file, changes: plan.changes.length }) + '\n');
    else process.stdout.write(`${file}: valid (${plan.changes.length} change${plan.changes.length === 1 ? '' : 's'}, ${plan.changes.reduce((n, c) => n + c.apply.length + c.verify.length, 0) + plan.preflight.length} steps)\n`);
    return 0;
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
