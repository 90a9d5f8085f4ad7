import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { UsageError } from '../../model/diagnostic.js';
import type { Plan } from '../../model/plan.js';
import { SAVED_PLAN_VERSION, type SavedPlan } from '../../model/saved-plan.js';
import { parseDuration } from '../../model/units.js';
import { planDifferences, savedPlan, staleReasons, storedPlan } from '../../plan/saved-plan.js';
import { createRedactor } from '../../secrets/redact.js';
import { writeFileAtomic } from '../../support/atomic-write.js';
import { environmentOf } from './open-store.js';
import type { ApplyOptions, CommonOptions } from './options.js';
import { ENGINE_VERSION } from './version.js';

function sha256(file: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return undefined;
  }
}

/**
 * The saved plan in `file`, or undefined when `file` is not one (a runbook, or unreadable: the
 * runbook loader then says why). A plan file is a JSON object whose first key is `runbookPlan`.
 */
export function readSavedPlan(file: string): SavedPlan | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  if (!/^\s*\{\s*"runbookPlan"\s*:/.test(text)) return undefined;
  let doc: Partial<SavedPlan>;
  try {
    doc = JSON.parse(text) as Partial<SavedPlan>;
  } catch (error) {
    throw new UsageError(`${file} starts like a saved plan ("runbookPlan") but is not valid JSON (${(error as Error).message}); make it again with: runbook plan RUNBOOK --out ${file}`);
  }
  if (doc.runbookPlan !== SAVED_PLAN_VERSION) throw new UsageError(`${file}: saved plan format ${JSON.stringify(doc.runbookPlan)} is not one this runbook reads (${SAVED_PLAN_VERSION}); make it again with runbook plan --out`);
  if (!doc.plan || !doc.runbook?.file || !Array.isArray(doc.varsFiles) || !Array.isArray(doc.vars) || typeof doc.createdAt !== 'string') throw new UsageError(`${file}: an incomplete saved plan (fields are missing); make it again with runbook plan --out`);
  return doc as SavedPlan;
}

/** `plan --out FILE`: the plan, its inputs' digests and who/when/where, written atomically. */
export async function writeSavedPlan(out: string, plan: Plan, file: string, options: CommonOptions): Promise<SavedPlan> {
  const digest = (f: string) => {
    const abs = resolve(f);
    return { file: abs, sha256: sha256(abs) ?? '' };
  };
  const saved = savedPlan({
    plan,
    redact: createRedactor(plan.secretValues),
    engineVersion: ENGINE_VERSION,
    createdAt: new Date(),
    createdBy: `${userInfo().username}@${hostname()}`,
    environment: environmentOf(options),
    runbook: digest(file),
    varsFiles: options.varsFile.map(digest),
    vars: options.var,
    ...(options.inventory !== undefined ? { inventory: digest(options.inventory) } : {}),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    ...(options.sshConfig !== undefined ? { sshConfig: digest(options.sshConfig) } : {}),
  });
  await writeFileAtomic(out, JSON.stringify(saved, null, 2) + '\n', 0o644);
  return saved;
}

/** The age limit for applying a saved plan: `--max-age`, else the runbook's policy.planMaxAge. */
function maxAge(saved: SavedPlan, options: ApplyOptions): { ms: number; from: string } | undefined {
  if (options.maxAge !== undefined) {
    const ms = parseDuration(options.maxAge);
    if (ms === undefined) throw new UsageError(`--max-age ${JSON.stringify(options.maxAge)}: expected a duration such as 30m, 4h or 1d`);
    return { ms, from: '--max-age' };
  }
  const policy = saved.plan.runbook.policy.planMaxAge;
  return policy === undefined ? undefined : { ms: policy, from: 'policy.planMaxAge' };
}

export interface PlanToApply {
  saved: SavedPlan;
  /** The runbook file the plan was made from. */
  file: string;
  /** The options with the plan's --var flags and vars files. */
  options: ApplyOptions;
}

/**
 * `apply PLAN`: the checks made before the lock — engine, environment, the digest of the runbook
 * and of every vars file, the age — each failure named; a UsageError (exit 2) when any fails.
 */
export function checkSavedPlan(planFile: string, saved: SavedPlan, options: ApplyOptions): PlanToApply {
  if (options.var.length || options.varsFile.length) throw new UsageError(`${planFile} is a saved plan: its variables and vars files are fixed in it (${saved.varsFiles.map((f) => f.file).join(', ') || 'no vars files'}); --var and --vars-file are not accepted with it. Make a new plan to change them.`);
  const hostFlags = [options.inventory !== undefined && '--inventory', options.limit !== undefined && '--limit', options.sshConfig !== undefined && '--ssh-config'].filter(Boolean);
  if (hostFlags.length) throw new UsageError(`${planFile} is a saved plan: its hosts are fixed in it (inventory ${saved.inventory?.file ?? 'none'}, limit ${saved.limit ?? 'none'}, ssh config ${saved.sshConfig?.file ?? 'none'}); ${hostFlags.join(', ')} ${hostFlags.length === 1 ? 'is' : 'are'} not accepted with it. Make a new plan to change them.`);
  const reasons = staleReasons(saved, { engineVersion: ENGINE_VERSION, environment: environmentOf(options), now: new Date(), digest: sha256, maxAge: maxAge(saved, options) });
  if (reasons.length) throw new UsageError(`refusing saved plan ${planFile} (made ${saved.createdAt} by ${saved.createdBy}); nothing was run:\n${reasons.map((r) => `  - ${r}`).join('\n')}\nReview and save a new plan: runbook plan ${saved.runbook.file} --out ${planFile}`);
  return {
    saved,
    file: saved.runbook.file,
    options: { ...options, var: saved.vars, varsFile: saved.varsFiles.map((f) => f.file), inventory: saved.inventory?.file, limit: saved.limit, sshConfig: saved.sshConfig?.file },
  };
}

/** The plan apply resolved now must be the saved one (a `{{ env.X }}` may differ while every file is the same). */
export function checkSamePlan(planFile: string, saved: SavedPlan, fresh: Plan): void {
  const differences = planDifferences(saved.plan, storedPlan(fresh, createRedactor(fresh.secretValues)));
  if (differences.length) throw new UsageError(`refusing saved plan ${planFile}: the runbook resolves differently now (an environment variable it uses?); nothing was run:\n${differences.map((d) => `  - ${d}`).join('\n')}\nReview and save a new plan: runbook plan ${saved.runbook.file} --out ${planFile}`);
}
