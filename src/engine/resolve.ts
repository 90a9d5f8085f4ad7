import { createHash } from 'node:crypto';
import { dirname, resolve as resolvePath } from 'node:path';
import type { Diagnostic } from '../model/diagnostic.js';
import type { Plan, PlannedChange, RiskBand } from '../model/plan.js';
import type { Change, ResolvedStep, Runbook, StepSpec } from '../model/runbook.js';
import { stepType } from '../steps/registry.js';
import type { TemplateField } from '../steps/contract.js';
import { fillField, StepBindings, TemplatePlacementError, VALUE_ENV, type FillContext } from './fill.js';
import { render, TemplateLookupError, type TemplateScope } from './template.js';

export function riskBand(risk: number): RiskBand {
  if (risk <= 1) return 'green';
  if (risk <= 4) return 'yellow';
  if (risk <= 7) return 'orange';
  return 'red';
}

export interface ResolveOptions {
  vars: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  /** Unset `env.X` is an error (apply) rather than shown as `${X}` (plan). */
  strictEnv: boolean;
}

type Fill = (text: string, field: TemplateField | undefined) => { exec: string; shown: string };

/** Fills every string of a step's params for where it goes: [as executed, as shown]. */
function renderDeep(value: unknown, path: string, fields: Record<string, TemplateField>, fill: Fill): [unknown, unknown] {
  if (typeof value === 'string') {
    const { exec, shown } = fill(value, fields[path]);
    return [exec, shown];
  }
  const at = (key: string | number) => (path === '' ? String(key) : `${path}.${key}`);
  if (Array.isArray(value)) {
    const pairs = value.map((v, i) => renderDeep(v, at(i), fields, fill));
    return [pairs.map((p) => p[0]), pairs.map((p) => p[1])];
  }
  if (value !== null && typeof value === 'object') {
    const pairs = Object.entries(value).map(([k, v]) => [k, renderDeep(v, at(k), fields, fill)] as const);
    return [Object.fromEntries(pairs.map(([k, p]) => [k, p[0]])), Object.fromEntries(pairs.map(([k, p]) => [k, p[1]]))];
  }
  return [value, value];
}

/**
 * Vars may reference other vars (`backups: "{{ project_dir }}/backups"`): each var's own
 * text is filled again until nothing changes, so a value is never read as a template itself.
 */
function resolveVars(vars: Record<string, unknown>, scope: Omit<TemplateScope, 'vars'>, fill: (text: string, scope: TemplateScope) => string): Record<string, unknown> {
  let current = { ...vars };
  for (let round = 0; round < 10; round++) {
    const next = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, typeof v === 'string' ? fill(v, { ...scope, vars: current }) : v]));
    if (JSON.stringify(next) === JSON.stringify(current)) return next;
    current = next;
  }
  return current;
}

function checksum(change: Change): string {
  const { pos: _pos, ...definition } = change;
  const strip = (steps: StepSpec[] | undefined) => steps?.map(({ pos: _p, ...s }) => s);
  const normalised = { ...definition, apply: strip(change.apply), verify: strip(change.verify), rollback: strip(change.rollback) };
  return createHash('sha256').update(JSON.stringify(normalised)).digest('hex').slice(0, 16);
}

/** load → **resolve** → plan: pure; runs nothing. Problems come back as diagnostics. */
export function resolvePlan(runbook: Runbook, options: ResolveOptions): { plan?: Plan; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const baseScope = { env: options.env, name: runbook.name };
  let current: StepSpec | undefined;
  const onMissing = (expr: string, reason: string) => {
    if (expr.startsWith('env.') && !options.strictEnv) return `\${${expr.slice(4)}}`;
    throw new TemplateLookupError(expr, reason);
  };
  let vars: Record<string, unknown>;
  try {
    vars = resolveVars({ ...runbook.vars, ...options.vars }, baseScope, (t, s) => render(t, s, onMissing));
  } catch (error) {
    return { diagnostics: [{ code: 'unknown-var', message: `in vars: ${(error as Error).message}`, pos: runbook.pos }] };
  }
  const scope: TemplateScope = { ...baseScope, vars };
  const fill = (text: string) => render(text, scope, onMissing);
  const secretNames = new Set(runbook.secrets);
  const isSecret = (expr: string) => secretNames.has(expr.startsWith('env.') ? expr.slice(4) : expr.split('.')[0]!);

  const resolveStep = (spec: StepSpec): ResolvedStep | undefined => {
    current = spec;
    const def = stepType(spec.type)!;
    try {
      const explicitParams = (spec.params as { params?: unknown } | null)?.params;
      const bindings = new StepBindings(Array.isArray(explicitParams) ? explicitParams.length : 0);
      const ctx: FillContext = { scope, onMissing, isSecret, bindings };
      const [exec, shown] = renderDeep(spec.params, '', def.templateFields ?? {}, (text, field) => fillField(text, field, ctx));
      if (bindings.params.length > 0) (exec as { params?: unknown[] }).params = [...((exec as { params?: unknown[] }).params ?? []), ...bindings.params];
      const normalize = (p: unknown) => (def.normalize ? def.normalize(p) : p);
      const shownParams = normalize(shown);
      const params = def.withShown ? def.withShown(normalize(exec) as never, shownParams as never) : normalize(exec);
      const env = spec.env ? Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, fill(v)])) : undefined;
      const reserved = Object.keys(env ?? {}).find((k) => VALUE_ENV.test(k));
      if (reserved) throw new Error(`the environment variable name ${reserved} is reserved: runbook passes template values in RUNBOOK_V1, RUNBOOK_V2, … — pick another name`);
      const valueEnv = Object.keys(bindings.env).length > 0 ? bindings.env : undefined;
      return {
        type: spec.type,
        params,
        label: spec.name !== undefined ? fill(spec.name) : def.describe((def.withShown ? params : shownParams) as never),
        timeout: spec.timeout,
        retries: spec.retries,
        interval: spec.interval,
        passes: spec.passes,
        settle: spec.settle,
        cwd: spec.cwd !== undefined ? fill(spec.cwd) : undefined,
        env: env || valueEnv ? { ...env, ...valueEnv } : undefined,
        pos: spec.pos,
      };
    } catch (error) {
      const lookupFailed = error instanceof TemplateLookupError;
      const message = lookupFailed ? `${error.message} (in a ${spec.type} step)` : error instanceof TemplatePlacementError ? error.message : `cannot resolve ${spec.type} step: ${(error as Error).message}`;
      diagnostics.push({ code: lookupFailed ? 'unknown-var' : error instanceof TemplatePlacementError ? 'template' : 'resolve', message, pos: current?.pos });
      return undefined;
    }
  };
  const resolveAll = (list: StepSpec[]) => list.map(resolveStep).filter((s): s is ResolvedStep => s !== undefined);

  const preflight = resolveAll(runbook.preflight);
  const changes: PlannedChange[] = runbook.changes.map((change, i) => ({
    number: i + 1,
    change,
    band: riskBand(change.risk),
    checksum: checksum(change),
    apply: resolveAll(change.apply),
    verify: resolveAll(change.verify),
    rollback: change.rollback ? resolveAll(change.rollback) : null,
    needsAcceptRisk: change.risk > runbook.policy.maxRisk,
    needsConfirm: change.risk >= runbook.policy.confirmFrom,
  }));
  let checkpoint: Plan['checkpoint'];
  if (runbook.checkpoint?.git) {
    try {
      const git = runbook.checkpoint.git;
      checkpoint = {
        dir: resolvePath(dirname(runbook.file), fill(git.dir)),
        message: fill(git.message),
        exclude: git.exclude.map((p) => fill(p)),
        include: git.include.map((p) => fill(p)),
      };
    } catch (error) {
      diagnostics.push({ code: 'unknown-var', message: `in checkpoint: ${(error as Error).message}`, pos: runbook.pos });
    }
  }
  if (diagnostics.length > 0) return { diagnostics };

  const sum = runbook.changes.reduce((s, c) => s + c.risk, 0);
  const max = 10 * runbook.changes.length;
  const percent = max === 0 ? 0 : Math.round((sum / max) * 1000) / 10;
    const over = changes.filter((c) => c.needsAcceptRisk);
  const confirm = changes.filter((c) => c.needsConfirm);
  const verdictParts = [
    over.length ? `${over.length} change(s) above maxRisk ${runbook.policy.maxRisk} (${over.map((c) => c.change.id).join(', ')}): apply needs --accept-risk` : `every change within maxRisk ${runbook.policy.maxRisk}`,
    confirm.length ? `${confirm.length} need confirmation (risk ≥ ${runbook.policy.confirmFrom}: ${confirm.map((c) => c.change.id).join(', ')})` : `none needs confirmation (confirmFrom ${runbook.policy.confirmFrom})`,
    `on failure: ${runbook.policy.onFailure}`,
  ];
  const secretValues = runbook.secrets
    .map((name) => (name in vars ? String(vars[name] ?? '') : (options.env[name] ?? '')))
    .filter((v) => v.length >= 3);
  return {
    diagnostics,
    plan: {
      runbook,
      vars,
      secretValues,
      preflight,
      checkpoint,
      changes,
      risk: { sum, max, percent, band: riskBand(Math.round(percent / 10)) },
      verdict: { ok: over.length === 0, text: verdictParts.join('; ') },
    },
  };
}

export function runbookDir(runbook: Runbook): string {
  return dirname(runbook.file);
}
