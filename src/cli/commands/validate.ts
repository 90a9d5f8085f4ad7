import { loadPlan } from '../../plan/load-plan.js';
import { loadOptions } from '../kit/load-options.js';
import type { CommonOptions } from '../kit/options.js';
import { reportError } from '../kit/report-error.js';

export async function run(file: string | undefined, options: CommonOptions): Promise<number> {
  try {
    const plan = await loadPlan(file!, loadOptions(options));
    const steps = plan.changes.reduce((n, c) => n + c.apply.length + c.verify.length, 0) + plan.preflight.length;
    const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
    const fleet = plan.fleet;
    if (options.json) process.stdout.write(JSON.stringify({ valid: true, file, changes: plan.changes.length, ...(fleet ? { hosts: fleet.hosts.length } : {}) }) + '\n');
    else process.stdout.write(`${file}: valid (${count(plan.changes.length, 'change')}, ${count(steps, 'step')}${fleet ? `, ${count(fleet.hosts.length, 'host')}` : ''})\n`);
    return 0;
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
