import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError } from '../../model/diagnostic.js';
import type { SavedPlan } from '../../model/saved-plan.js';
import { planOf } from '../../plan/saved-plan.js';
import { createRedactor } from '../../secrets/redact.js';
import type { ShowOptions } from '../kit/options.js';
import { readSavedPlan } from '../kit/plan-file.js';
import { reportError } from '../kit/report-error.js';

/** Each input file of the plan and whether it still has the digest the plan recorded. */
function inputs(saved: SavedPlan): { what: string; file: string; sha256: string; unchanged: boolean }[] {
  const now = (file: string) => {
    try {
      return createHash('sha256').update(readFileSync(file)).digest('hex');
    } catch {
      return undefined;
    }
  };
  return [
    { what: 'runbook', ...saved.runbook },
    ...(saved.inventory ? [{ what: 'inventory', ...saved.inventory }] : []),
    ...(saved.sshConfig ? [{ what: 'ssh config', ...saved.sshConfig }] : []),
    ...saved.varsFiles.map((f) => ({ what: 'vars file', ...f })),
  ].map((f) => ({ ...f, unchanged: now(f.file) === f.sha256 }));
}

function header(saved: SavedPlan, markdown: boolean): string {
  const files = inputs(saved).map((f) => `${f.what} ${f.file} sha256 ${f.sha256.slice(0, 12)}… ${f.unchanged ? '(unchanged)' : '(CHANGED since: apply will refuse this plan)'}`);
  const lines = [
    `Saved plan made ${saved.createdAt} by ${saved.createdBy} with runbook ${saved.engine.version}, for environment ${saved.environment}`,
    ...files,
    ...(saved.vars.length ? [`--var: ${saved.vars.join(' ')}`] : []),
    ...(saved.limit !== undefined ? [`--limit: ${saved.limit}`] : []),
    `secrets needed at apply (from vars files or the environment): ${saved.secrets.join(', ') || 'none'}`,
  ];
  return markdown ? `${lines.map((l) => `> ${l}`).join('  \n')}\n\n` : `${lines.join('\n')}\n\n`;
}

/** `runbook show PLAN`: a saved plan printed as `plan` prints a runbook. Exit 0, or 2 when PLAN is not a saved plan. */
export async function run(file: string | undefined, options: ShowOptions): Promise<number> {
  try {
    const saved = readSavedPlan(file!);
    if (!saved) throw new UsageError(`${file} is not a saved plan (a JSON file starting with "runbookPlan", written by runbook plan --out); to review a runbook use: runbook plan ${file}`);
    const plan = planOf(saved);
    // The plan holds no secret values (they were replaced when it was saved); URLs with passwords are still masked.
    const redact = createRedactor([]);
    if (options.format === 'json') {
      const { planJson } = await import('../../render/plan/plan-json.js');
      const doc = JSON.parse(planJson(plan, redact)) as Record<string, unknown>;
      const { plan: _plan, ...about } = saved;
      process.stdout.write(JSON.stringify({ savedPlan: { ...about, inputs: inputs(saved).map((f) => ({ file: f.file, sha256: f.sha256, unchanged: f.unchanged })) }, ...doc }, null, 2) + '\n');
    } else if (options.format === 'markdown') {
      const { renderPlanMarkdown } = await import('../../render/plan/plan-markdown.js');
      process.stdout.write(header(saved, true) + renderPlanMarkdown(plan, redact));
    } else {
      const { renderPlanTable } = await import('../../render/plan/plan-table.js');
      process.stdout.write(header(saved, false) + renderPlanTable(plan, redact, { width: process.stdout.isTTY ? process.stdout.columns : undefined }));
    }
    return 0;
  } catch (error) {
    return reportError(error, false);
  }
}
