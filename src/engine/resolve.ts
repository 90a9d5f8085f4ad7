import { createHash } from 'node:crypto';
import { dirname, resolve as resolvePath } from 'node:path';
import type { Diagnostic } from '../model/diagnostic.js';
import type { Plan, PlannedChange, RiskBand } from '../model/plan.js';
import type { Change, ResolvedStep, Runbook, StepSpec } from '../model/runbook.js';
import { stepType } from '../steps/registry.js';
import { render, TemplateLookupError, type RenderMode, type TemplateScope } from './template.js';

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

/** Fills templates: strings at the step type's shell fields are quoted for the shell. */
function renderDeep(value: unknown, path: string, shellFields: Set<string>, fill: (text: string, mode: RenderMode) => string): unknown {
  if (typeof value === 'string') return fill(value, shellFields.has(path) ? 'shell' : 'text');
  if (Array.isArray(value)) return value.map((v, i) => renderDeep(v, path === '' ? String(i) : `${path}.${i}`, shellFields, fill));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v, path === '' ? k : `${path}.${k}`, shellFields, fill)]));
  }
  return value;
}

/** Vars may reference other vars (`backups: "{{ project_dir }}/backups"`); filled to a fixed point. */
function resolveVars(vars: Record<string, unknown>, scope: Omit<TemplateScope, 'vars'>, fill: (text: string, scope: TemplateScope) => string): Record<string, unknown> {
  let current = { ...vars };
  for (let round = 0; round < 10; round++) {
    const next = Object.fromEntries(Object.entries(current).map(([k, v]) => [k, typeof v === 'string' ? fill(v, { ...scope, vars: current }) : v]));
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
  const fillWith = (text: string, scope: TemplateScope, mode: RenderMode = 'text') =>
    render(text, scope, mode, (expr, reason) => {
      if (expr.startsWith('env.') && !options.strictEnv) return `\${${expr.slice(4)}}`;
      throw new TemplateLookupError(expr, reason);
    });
  let vars: Record<string, unknown>;
  try {
    vars = resolveVars({ ...runbook.vars, ...options.vars }, baseScope, (t, s) => fillWith(t, s));
  } catch (error) {
    return { diagnostics: [{ code: 'unknown-var', message: `in vars: ${(error as Error).message}`, pos: runbook.pos }] };
  }
  const scope: TemplateScope = { ...baseScope, vars };
  const fill = (text: string, mode: RenderMode) => fillWith(text, scope, mode);

  const resolveStep = (spec: StepSpec): ResolvedStep | undefined => {
    current = spec;
    const def = stepType(spec.type)!;
    try {
      const rendered = renderDeep(spec.params, '', new Set(def.shellFields ?? []), fill);
      const params = def.normalize ? def.normalize(rendered) : rendered;
      return {
        type: spec.type,
        params,
        label: spec.name !== undefined ? fill(spec.name, 'text') : def.describe(params as never),
        timeout: spec.timeout,
        retries: spec.retries,
        interval: spec.interval,
        passes: spec.passes,
        settle: spec.settle,
        cwd: spec.cwd !== undefined ? fill(spec.cwd, 'text') : undefined,
        env: spec.env ? Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, fill(v, 'text')])) : undefined,
        pos: spec.pos,
      };
    } catch (error) {
      const message = error instanceof TemplateLookupError ? `${error.message} (in a ${spec.type} step)` : `cannot resolve ${spec.type} step: ${(error as Error).message}`;
      diagnostics.push({ code: error instanceof TemplateLookupError ? 'unknown-var' : 'resolve', message, pos: current?.pos });
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
        dir: resolvePath(dirname(runbook.file), fill(git.dir, 'text')),
        message: fill(git.message, 'text'),
        exclude: git.exclude.map((p) => fill(p, 'text')),
        include: git.include.map((p) => fill(p, 'text')),
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
