import type { Plan } from '../model/plan.js';
import { SAVED_PLAN_VERSION, type SavedPlan, type StoredPlan } from '../model/saved-plan.js';
import { formatMs } from '../model/units.js';

/** Where things are written in the YAML: not content (the files' digests stand for that), and spelled as the path was given. */
const SOURCE_POSITIONS = new Set(['pos', 'templatePos']);

/** The plan as stored and compared: plain JSON without source positions, every string passed through `redact` (secret values become `***`). */
export function storedPlan(plan: Plan, redact: (text: string) => string): StoredPlan {
  const { secretValues: _secrets, ...rest } = plan;
  return JSON.parse(JSON.stringify(rest, (key, value: unknown) => (SOURCE_POSITIONS.has(key) ? undefined : typeof value === 'string' ? redact(value) : value))) as StoredPlan;
}

/** A stored plan as a Plan the renderers take (it knows no secret values: there are none in it). */
export function planOf(saved: SavedPlan): Plan {
  return { ...saved.plan, secretValues: [] };
}

/** What the saved plan records as given (files, flags, who) and what it is made from. */
export type SavedPlanInput = Pick<SavedPlan, 'createdBy' | 'environment' | 'runbook' | 'varsFiles' | 'vars' | 'inventory' | 'limit' | 'sshConfig'> & {
  plan: Plan;
  redact: (text: string) => string;
  engineVersion: string;
  createdAt: Date;
};

export function savedPlan(input: SavedPlanInput): SavedPlan {
  return {
    runbookPlan: SAVED_PLAN_VERSION,
    engine: { name: 'runbook', version: input.engineVersion },
    createdAt: input.createdAt.toISOString(),
    createdBy: input.createdBy,
    environment: input.environment,
    runbook: input.runbook,
    varsFiles: input.varsFiles,
    vars: input.vars,
    ...(input.inventory ? { inventory: input.inventory } : {}),
    ...(input.limit !== undefined ? { limit: input.limit } : {}),
    ...(input.sshConfig ? { sshConfig: input.sshConfig } : {}),
    secrets: input.plan.runbook.secrets,
    risk: input.plan.risk,
    verdict: input.plan.verdict,
    plan: storedPlan(input.plan, input.redact),
  };
}

/** What apply compares a saved plan against: the files now, the engine, the environment, the clock. */
export interface PlanContext {
  engineVersion: string;
  environment: string;
  now: Date;
  /** sha256 of a file's bytes now; undefined when it cannot be read. */
  digest: (file: string) => string | undefined;
  /** The age limit (`--max-age`, else policy.planMaxAge); undefined: none. */
  maxAge?: { ms: number; from: string };
}

/** Why a saved plan may not be applied now, one sentence each naming what differs; empty when it may. */
export function staleReasons(saved: SavedPlan, ctx: PlanContext): string[] {
  const reasons: string[] = [];
  if (saved.engine.version !== ctx.engineVersion) reasons.push(`it was made by runbook ${saved.engine.version}; this is runbook ${ctx.engineVersion}`);
  if (saved.environment !== ctx.environment) reasons.push(`it was made for environment "${saved.environment}"; this apply is for environment "${ctx.environment}" (--environment / RUNBOOK_ENVIRONMENT)`);
  const files = [
    ['the runbook', saved.runbook] as const,
    ...(saved.inventory ? [['the inventory', saved.inventory] as const] : []),
    ...(saved.sshConfig ? [['the ssh config', saved.sshConfig] as const] : []),
    ...saved.varsFiles.map((v) => ['vars file', v] as const),
  ];
  for (const [what, f] of files) {
    const now = ctx.digest(f.file);
    if (now === undefined) reasons.push(`${what} ${f.file} cannot be read now`);
    else if (now !== f.sha256) reasons.push(`${what} ${f.file} changed since: its sha256 digest differs (plan ${f.sha256.slice(0, 12)}…, now ${now.slice(0, 12)}…)`);
  }
  if (ctx.maxAge) {
    const age = ctx.now.getTime() - Date.parse(saved.createdAt);
    if (age > ctx.maxAge.ms) reasons.push(`it is ${formatMs(age)} old (made ${saved.createdAt} by ${saved.createdBy}), older than ${ctx.maxAge.from} ${formatMs(ctx.maxAge.ms)}`);
  }
  return reasons;
}

/** Where two stored plans differ, as readable paths (`change db-pool: apply[0].params.command`), at most `limit`. */
export function planDifferences(saved: unknown, fresh: unknown, limit = 5): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (out.length >= limit) return;
    if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
      const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
      for (const key of keys) walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], Array.isArray(a) ? `${path}[${key}]` : path ? `${path}.${key}` : key);
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${readable(path, fresh)}: plan ${JSON.stringify(a) ?? 'absent'}, now ${JSON.stringify(b) ?? 'absent'}`);
  };
  walk(saved, fresh, '');
  return out;
}

/** `changes[1].apply[0]…` → `change db-pool: apply[0]…` (the change's id instead of its index). */
function readable(path: string, fresh: unknown): string {
  const m = /^(?:runbook\.)?changes\[(\d+)\]\.?(.*)$/.exec(path);
  const id = m ? (fresh as { changes?: { change?: { id?: string } }[] }).changes?.[Number(m[1])]?.change?.id : undefined;
  return m && id ? `change ${id}: ${m[2]}` : path;
}
