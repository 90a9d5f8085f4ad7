import { hash } from 'node:crypto';
import { dirname, resolve as resolvePath } from 'node:path';
import { runsOnHosts } from '../load/hosts.js';
import { checkResolvedStep } from '../load/step-checks.js';
import { varRefs } from '../load/vars.js';
import type { Diagnostic, SourcePos } from '../model/diagnostic.js';
import type { Plan, PlannedChange, PlannedTarget, RiskBand } from '../model/plan.js';
import type { Change, HostRef, ResolvedStep, Runbook, StepSpec } from '../model/runbook.js';
import { durationLimitProblem, parseDuration } from '../model/units.js';
import type { TemplateField } from '../steps/contract.js';
import { stepType } from '../steps/registry.js';
import { fillField, StepBindings, TemplatePlacementError, VALUE_ENV, type FillContext } from '../template/fill.js';
import { render, TemplateLookupError, type TemplateScope } from '../template/template.js';
import { fleetOf, hostsOf, limitHosts } from './fleet.js';
import { requiredCommandsCheck } from './required-commands.js';

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
  /** `--limit PATTERN`: which hosts changes on hosts target (see fleet.ts); a pattern matching nothing is a UsageError. */
  limit?: string;
  /** `--ssh-config FILE`, absolute: kept in `plan.fleet`. */
  sshConfig?: string;
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

/** A copy without `pos` and `templatePos`, which are not read: a step's template positions are looked up in the document when read. */
function withoutPositions<T extends object>(value: T): Omit<T, 'pos' | 'templatePos'> {
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) if (key !== 'pos' && key !== 'templatePos') copy[key] = (value as Record<string, unknown>)[key];
  return copy as Omit<T, 'pos' | 'templatePos'>;
}

/**
 * A change's definition as applied: its normalised text and its steps as resolved (so a `--var`
 * or vars file that changes what a step does changes the checksum). Secret values are masked
 * first: the checksum is journaled and must not let anyone test a guess of a secret.
 */
function checksum(change: Change, resolved: { apply: ResolvedStep[]; verify: ResolvedStep[]; rollback: ResolvedStep[] | null }, secrets: string[]): string {
  // Where a change runs is not what it does on a host: `on` stays out (a local change's checksum is what it always was).
  // `rehearse` checks are left out too: they check the system without the change, not what is applied.
  const { pos: _pos, on: _on, rehearse: _rehearse, ...definition } = change;
  const strip = (steps: StepSpec[] | undefined) => steps?.map(withoutPositions);
  const stripResolved = (steps: ResolvedStep[] | null) => steps?.map(withoutPositions) ?? null;
  const normalised = { ...definition, apply: strip(change.apply), verify: strip(change.verify), rollback: strip(change.rollback) };
  let text = JSON.stringify({ definition: normalised, resolved: { apply: stripResolved(resolved.apply), verify: stripResolved(resolved.verify), rollback: stripResolved(resolved.rollback) } });
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) text = text.split(JSON.stringify(secret).slice(1, -1)).join('\u0000secret');
  // One-shot: ~3x cheaper than a Hash object per change (10,000 changes: ~30 ms).
  return hash('sha256', text).slice(0, 16);
}

/**
 * load → **resolve** → plan: pure; runs nothing. Problems come back as diagnostics, with the
 * variables as far as they could be filled (to hide secrets in the messages).
 */
export async function resolvePlan(runbook: Runbook, options: ResolveOptions): Promise<{ plan?: Plan; diagnostics: Diagnostic[]; vars: Record<string, unknown> }> {
  const diagnostics: Diagnostic[] = [];
  const baseScope = { env: options.env, name: runbook.name };
  let current: StepSpec | undefined;
  /** Resolving a change on hosts that --limit left without any: `{{ host.… }}` is shown as written. */
  let hostUnfilled = false;
  /** The host whose steps are being resolved: its problems say so. */
  let onHost: string | undefined;
  const onHostPrefix = (host: string | undefined) => (host === undefined ? '' : `on host ${host}: `);
  const onMissing = (expr: string, reason: string) => {
    if (hostUnfilled && expr.startsWith('host.')) return `{{ ${expr} }}`;
    if (expr.startsWith('env.') && !options.strictEnv) return `\${${expr.slice(4)}}`;
    throw new TemplateLookupError(expr, reason);
  };
  const { vars, failed } = resolveVars({ ...runbook.vars, ...options.vars }, baseScope, (t, s) => render(t, s, onMissing));
  if (failed.length > 0) {
    const at = (name: string) => (Object.hasOwn(options.varPositions ?? {}, name) ? options.varPositions![name] : runbook.pos);
    return { vars, diagnostics: failed.map(([name, error]) => ({ code: 'unknown-var', message: `variable ${name}: ${error.message}`, pos: at(name) })) };
  }
  const localScope: TemplateScope = { ...baseScope, vars };
  let scope = localScope;
  const fill = (text: string) => render(text, scope, onMissing);
  const secretNames = new Set(runbook.secrets);
  const isSecret = (expr: string) => secretNames.has(expr.startsWith('env.') ? expr.slice(4) : expr.split('.')[0]!);

  const checks: Promise<Diagnostic[]>[] = [];
  /** `timeout: "{{ var }}"`: the filled value must be a duration like any written one. */
  const filledTimeout = (template: string): number => {
    const text = fill(template);
    const ms = parseDuration(text);
    const secret = [...template.matchAll(/\{\{\s*([^\s|}]+)/g)].some((m) => isSecret(m[1]!));
    const got = secret ? '' : ` — got ${JSON.stringify(text)}`;
    if (ms === undefined) throw new TemplatePlacementError(`timeout ${template} must fill to a duration with a unit such as 500ms, 30s, 5m or 1h${got}`);
    const limit = durationLimitProblem(ms) ?? (ms === 0 ? 'must be longer than 0s: a step with no time to run always fails' : undefined);
    if (limit) throw new TemplatePlacementError(`timeout ${template} ${limit}${got}`);
    return ms;
  };
  const resolveStep = (spec: StepSpec): ResolvedStep | undefined => {
    current = spec;
    const def = stepType(spec.type)!;
    try {
      const explicitParams = (spec.params as { params?: unknown } | null)?.params;
      const bindings = new StepBindings(Array.isArray(explicitParams) ? explicitParams.length : 0);
      const ctx: FillContext = { scope, onMissing, isSecret, bindings };
      const [exec, shown] = renderDeep(spec.params, '', def.templateFields ?? {}, (text, field) => fillField(text, field, ctx));
      const prefix = onHostPrefix(onHost);
      // Steps shown with `{{ host.… }}` unfilled (no host left) are not what runs anywhere: nothing to check.
      if (options.checkFilled !== false && !hostUnfilled) checks.push(checkResolvedStep(spec, exec).then((found) => found.map((d) => ({ ...d, message: prefix + d.message }))));
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
        timeout: spec.timeoutTemplate === undefined ? spec.timeout : hostUnfilled && spec.timeoutTemplate.includes('host.') ? undefined : filledTimeout(spec.timeoutTemplate),
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
      diagnostics.push({ code: lookupFailed ? 'unknown-var' : error instanceof TemplatePlacementError ? 'template' : 'resolve', message: onHostPrefix(onHost) + message, pos: current?.pos });
      return undefined;
    }
  };
  const resolveAll = (list: StepSpec[]) => list.map(resolveStep).filter((s): s is ResolvedStep => s !== undefined);
  const resolveChange = (change: Change) => ({ apply: resolveAll(change.apply), verify: resolveAll(change.verify), rollback: change.rollback ? resolveAll(change.rollback) : null });
  /** A change's steps as they run on `host`: `{{ host.name }}` and `{{ host.vars.X }}` filled (host vars are data, never templates). */
  const resolveOn = (change: Change, host: HostRef | undefined) => {
    onHost = host?.name;
    const hostVars = host ? { host: { name: host.name, vars: host.vars } } : {};
    scope = { ...localScope, vars: { ...vars, ...hostVars } };
    hostUnfilled = host === undefined;
    try {
      return resolveChange(change);
    } finally {
      scope = localScope;
      hostUnfilled = false;
      onHost = undefined;
    }
  };

  const preflight = resolveAll(runbook.preflight);
  const secretValues = runbook.secrets
    .map((name) => (name in vars ? String(vars[name] ?? '') : (options.env[name] ?? '')))
    .filter((v) => v.length >= 3);
  // Titles are shown as filled (`{{ }}` of a var that cannot be filled stays as written: a title is never an error).
  const fillText = (text: string) => {
    try {
      return fill(text);
    } catch {
      return text;
    }
  };
  const allowed = limitHosts(runbook.hosts, options.limit);
  const kept = (hosts: HostRef[]) => hosts.filter((h) => allowed === undefined || allowed.has(h.name));
  const remote = runbook.changes.filter((c) => runsOnHosts(c.on));
  const fleet = remote.length > 0 ? fleetOf(kept(hostsOf(runbook.hosts, remote.flatMap((c) => c.on))), runbook.rollout, options.sshConfig) : undefined;
  const fleetOrder = new Map(fleet?.hosts.map((h, k) => [h.name, k]));
  /** The hosts a change runs on, after --limit, each once, in the order the rollout reaches them. */
  const hostsFor = (change: Change) => kept(hostsOf(runbook.hosts, change.on)).sort((a, b) => fleetOrder.get(a.name)! - fleetOrder.get(b.name)!);
  const changes: PlannedChange[] = runbook.changes.map((change, i) => {
    let resolved: ReturnType<typeof resolveChange>;
    let targets: PlannedTarget[] | undefined;
    if (runsOnHosts(change.on)) {
      const hosts = hostsFor(change);
      targets = hosts.map((host) => {
        const steps = resolveOn(change, host);
        return { host: host.name, ...steps, checksum: checksum(change, steps, secretValues) };
      });
      resolved = targets[0] ? { apply: targets[0].apply, verify: targets[0].verify, rollback: targets[0].rollback } : resolveOn(change, undefined);
    } else resolved = resolveChange(change);
    return {
      number: i + 1,
      change: { ...change, title: fillText(change.title) },
      band: riskBand(change.risk),
      checksum: targets?.[0]?.checksum ?? checksum(change, resolved, secretValues),
      ...resolved,
      rehearse: resolveAll(change.rehearse ?? []),
      ...(change.irreversible !== undefined ? { irreversible: change.irreversible } : {}),
      ...(targets ? { targets } : {}),
      needsAcceptRisk: change.risk > runbook.policy.maxRisk,
      needsConfirm: change.risk >= runbook.policy.confirmFrom,
    };
  });
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
  for (const found of await Promise.all(checks)) diagnostics.push(...found);
  if (diagnostics.length > 0) return { diagnostics, vars };
  // Programs the steps of changes on hosts run are needed on those hosts, not here.
  const commandsCheck = requiredCommandsCheck(preflight, changes.filter((c) => c.targets === undefined), checkpoint !== undefined);
  if (commandsCheck) preflight.unshift(commandsCheck);

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
  return {
    diagnostics,
    vars,
    plan: {
      runbook: { ...runbook, title: fillText(runbook.title) },
      vars,
      secretValues,
      preflight,
      checkpoint,
      changes,
      risk: { sum, max, percent, band: riskBand(Math.round(percent / 10)) },
      verdict: { ok: over.length === 0, text: verdictParts.join('; ') },
      ...(fleet ? { fleet } : {}),
    },
  };
}

export function runbookDir(runbook: Runbook): string {
  return dirname(runbook.file);
}
