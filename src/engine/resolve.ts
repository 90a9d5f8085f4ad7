import { createHash } from 'node:crypto';
import { dirname, resolve as resolvePath } from 'node:path';
import type { Diagnostic, SourcePos } from '../model/diagnostic.js';
import type { Plan, PlannedChange, RiskBand } from '../model/plan.js';
import type { Change, ResolvedStep, Runbook, StepSpec } from '../model/runbook.js';
import { stepType } from '../steps/registry.js';
import { checkResolvedStep } from './step-checks.js';
import { render, TemplateLookupError, type RenderMode, type TemplateScope } from './template.js';
import { varRefs } from './vars.js';

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
  /** Run the step types' checks on values filled from templates (default true; plan skips them, see LoadPlanOptions). */
  checkFilled?: boolean;
  /** Where each variable's effective value is written, for problems found while filling it. */
  varPositions?: Record<string, SourcePos | undefined>;
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

/**
 * Vars may use other vars (`backups: "{{ project_dir }}/backups"`): each is filled once, after
 * the vars it uses. The loader has already rejected cycles; one that slips through fails here
 * instead of looping. Problems come back per variable.
 */
function resolveVars(vars: Record<string, unknown>, scope: Omit<TemplateScope, 'vars'>, fill: (text: string, scope: TemplateScope) => string): { vars: Record<string, unknown>; failed: [string, Error][] } {
  const done: Record<string, unknown> = {};
  const visiting = new Set<string>();
  const failed: [string, Error][] = [];
  const resolveOne = (name: string): void => {
    if (Object.hasOwn(done, name) || visiting.has(name)) return;
    const value = vars[name];
    visiting.add(name);
    for (const ref of varRefs(value)) {
      if (visiting.has(ref)) throw new Error(`variable ${name} refers to itself through ${ref}`);
      if (Object.hasOwn(vars, ref)) resolveOne(ref);
    }
    visiting.delete(name);
    try {
      done[name] = typeof value === 'string' ? fill(value, { ...scope, vars: done }) : value;
    } catch (error) {
      failed.push([name, error as Error]);
      done[name] = value;
    }
  };
  for (const name of Object.keys(vars)) {
    try {
      resolveOne(name);
    } catch (error) {
      failed.push([name, error as Error]);
      visiting.clear();
    }
  }
  return { vars: done, failed };
}

function checksum(change: Change): string {
  const { pos: _pos, ...definition } = change;
  const strip = (steps: StepSpec[] | undefined) => steps?.map(({ pos: _p, templatePos: _t, ...s }) => s);
  const normalised = { ...definition, apply: strip(change.apply), verify: strip(change.verify), rollback: strip(change.rollback) };
  return createHash('sha256').update(JSON.stringify(normalised)).digest('hex').slice(0, 16);
}

/**
 * load → **resolve** → plan: pure; runs nothing. Problems come back as diagnostics, with the
 * variables as far as they could be filled (to hide secrets in the messages).
 */
export async function resolvePlan(runbook: Runbook, options: ResolveOptions): Promise<{ plan?: Plan; diagnostics: Diagnostic[]; vars: Record<string, unknown> }> {
  const diagnostics: Diagnostic[] = [];
  const baseScope = { env: options.env, name: runbook.name };
  let current: StepSpec | undefined;
  const fillWith = (text: string, scope: TemplateScope, mode: RenderMode = 'text') =>
    render(text, scope, mode, (expr, reason) => {
      if (expr.startsWith('env.') && !options.strictEnv) return `\${${expr.slice(4)}}`;
      throw new TemplateLookupError(expr, reason);
    });
  const { vars, failed } = resolveVars({ ...runbook.vars, ...options.vars }, baseScope, (t, s) => fillWith(t, s));
  if (failed.length > 0) {
    const at = (name: string) => (Object.hasOwn(options.varPositions ?? {}, name) ? options.varPositions![name] : runbook.pos);
    return { vars, diagnostics: failed.map(([name, error]) => ({ code: 'unknown-var', message: `variable ${name}: ${error.message}`, pos: at(name) })) };
  }
  const scope: TemplateScope = { ...baseScope, vars };
  const fill = (text: string, mode: RenderMode) => fillWith(text, scope, mode);

  const checks: Promise<Diagnostic[]>[] = [];
  const resolveStep = (spec: StepSpec): ResolvedStep | undefined => {
    current = spec;
    const def = stepType(spec.type)!;
    try {
      const rendered = renderDeep(spec.params, '', new Set(def.shellFields ?? []), fill);
      if (options.checkFilled !== false) checks.push(checkResolvedStep(spec, rendered));
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
    ...(change.irreversible !== undefined ? { irreversible: change.irreversible } : {}),
    needsAcceptRisk: change.risk > runbook.policy.maxRisk,
    needsConfirm: change.risk >= runbook.policy.confirmFrom,
  }));
  let checkpoint: Plan['checkpoint'];
  if (runbook.checkpoint?.git) {
    try {
      checkpoint = { dir: resolvePath(dirname(runbook.file), fill(runbook.checkpoint.git.dir, 'text')), message: fill(runbook.checkpoint.git.message, 'text') };
    } catch (error) {
      diagnostics.push({ code: 'unknown-var', message: `in checkpoint: ${(error as Error).message}`, pos: runbook.pos });
    }
  }
  for (const found of await Promise.all(checks)) diagnostics.push(...found);
  if (diagnostics.length > 0) return { diagnostics, vars };

  const sum = runbook.changes.reduce((s, c) => s + c.risk, 0);
  const max = 10 * runbook.changes.length;
  const percent = max === 0 ? 0 : Math.round((sum / max) * 1000) / 10;
  const over = changes.filter((c) => c.needsAcceptRisk);
  const confirm = changes.filter((c) => c.needsConfirm);
  const irreversible = changes.filter((c) => c.irreversible !== undefined);
  const changesText = (n: number) => `${n} change${n === 1 ? '' : 's'}`;
  const verdictParts = [
    over.length ? `${changesText(over.length)} above maxRisk ${runbook.policy.maxRisk} (${over.map((c) => c.change.id).join(', ')}): apply needs --accept-risk` : `every change within maxRisk ${runbook.policy.maxRisk}`,
    confirm.length ? `${changesText(confirm.length)} ${confirm.length === 1 ? 'needs' : 'need'} confirmation (risk ≥ ${runbook.policy.confirmFrom}: ${confirm.map((c) => c.change.id).join(', ')})` : `none needs confirmation (confirmFrom ${runbook.policy.confirmFrom})`,
    ...(irreversible.length ? [`${changesText(irreversible.length)} CANNOT BE UNDONE (${irreversible.map((c) => c.change.id).join(', ')})`] : []),
    `on failure: ${runbook.policy.onFailure}`,
  ];
  const secretValues = runbook.secrets
    .map((name) => (name in vars ? String(vars[name] ?? '') : (options.env[name] ?? '')))
    .filter((v) => v.length >= 3);
  return {
    diagnostics,
    vars,
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
