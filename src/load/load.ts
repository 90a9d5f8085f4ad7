import type { Diagnostic } from '../model/diagnostic.js';
import type { Change, HostRef, Runbook, StepSpec } from '../model/runbook.js';
import { parseDuration } from '../model/units.js';
import { runbookCheck, runbookValidator } from '../schema/validator.js';
import { changeDiagnostics, stepTypeOf } from './change-rules.js';
import { fleetDiagnostics } from './fleet-rules.js';
import { hostGroups, rolloutOf, targetGroups } from './hosts.js';
import { lazyPos, type Locate } from './lazy-pos.js';
import { nodeAt, nodeOffset, posAt, type YamlSource } from './source.js';
import { hasTemplate, stepCheckDiagnostics, templatePositions } from './step-checks.js';
import { templateDiagnostics } from './template-checks.js';

type Raw = Record<string, unknown>;

function durationMs(value: unknown): number | undefined {
  return typeof value === 'string' ? parseDuration(value) : undefined;
}

/** `key`: the node's path, its segments joined with dots (fixed words and indexes only). */
const nodeStart: Locate = (src, key) => nodeOffset(nodeAt(src.doc, key.split('.')).node) ?? 0;
const fileStart: Locate = () => 0;

/** Where the node at `key` (a dotted path) starts, looked up in the document only when the position is read. */
function posOf(src: YamlSource, key: string) {
  return lazyPos(src, key, nodeStart);
}

function toStep(src: YamlSource, raw: Raw, key: string): StepSpec {
  const type = stepTypeOf(raw)!;
  const spec: StepSpec = {
    type,
    params: raw[type],
    name: raw.name as string | undefined,
    timeout: typeof raw.timeout === 'string' && raw.timeout.includes('{{') ? undefined : durationMs(raw.timeout),
    ...(typeof raw.timeout === 'string' && raw.timeout.includes('{{') ? { timeoutTemplate: raw.timeout } : {}),
    retries: raw.retries as number | undefined,
    interval: durationMs(raw.interval),
    passes: raw.passes as number | undefined,
    settle: durationMs(raw.settle),
    cwd: raw.cwd as string | undefined,
    env: type === 'env' ? undefined : (raw.env as Record<string, string> | undefined),
    pos: posOf(src, key),
  };
  // Positions of its templated values: walked in the document when a filled value is found wrong.
  if (hasTemplate(raw[type])) {
    const located = src.located ?? src;
    Object.defineProperty(spec, 'templatePos', {
      enumerable: true,
      configurable: true,
      get() {
        const value = templatePositions(located, nodeAt(located.doc, key.split('.')).node, type, raw[type]);
        Object.defineProperty(spec, 'templatePos', { value, enumerable: true, configurable: true, writable: true });
        return value;
      },
    });
  }
  return spec;
}

/** The steps of the list at `key` (a dotted path). */
function steps(src: YamlSource, list: unknown, key: string): StepSpec[] {
  return Array.isArray(list) ? list.map((s, i) => toStep(src, s as Raw, `${key}.${i}`)) : [];
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

function toRunbook(src: YamlSource, file: string, data: Raw, inventory: Inventory | undefined): Runbook {
  const policy = (data.policy ?? {}) as Raw;
  const watch = data.watch as Raw | undefined;
  const git = (data.checkpoint as Raw | undefined)?.git as Raw | undefined;
  const changes: Change[] = ((data.changes as Raw[]) ?? []).map((c, i) => {
    const listPath = (key: string) => `changes.${i}.${key}`;
    const none = c.rollback !== undefined && !Array.isArray(c.rollback) ? ((c.rollback as Raw).none as string) : undefined;
    return {
      id: c.id as string,
      title: c.title as string,
      risk: c.risk as number,
      impact: c.impact as string | undefined,
      rollbackTime: c.rollbackTime as string | undefined,
      verifiedBy: c.verifiedBy as string | undefined,
      does: strings(c.does),
      breaks: (c.breaks as Change['breaks'] | undefined) ?? [],
      protections: strings(c.protections),
      benefits: strings(c.benefits),
      apply: steps(src, c.apply, listPath('apply')),
      verify: steps(src, c.verify, listPath('verify')),
      rollback: c.rollback === undefined ? undefined : steps(src, c.rollback, listPath('rollback')),
      ...(c.rehearse !== undefined ? { rehearse: steps(src, c.rehearse, listPath('rehearse')) } : {}),
      ...(none !== undefined ? { irreversible: none } : {}),
      on: targetGroups(c.on),
      pos: posOf(src, `changes.${i}`),
    };
  });
  return {
    file,
    name: data.name as string,
    title: (data.title as string | undefined) ?? (data.name as string),
    description: data.description as string | undefined,
    vars: (data.vars as Raw | undefined) ?? {},
    secrets: strings(data.secrets),
    policy: {
      maxRisk: (policy.maxRisk as number | undefined) ?? 5,
      confirmFrom: (policy.confirmFrom as number | undefined) ?? 3,
      onFailure: (policy.onFailure as Runbook['policy']['onFailure'] | undefined) ?? 'rollback-all',
      ...(policy.planMaxAge !== undefined ? { planMaxAge: durationMs(policy.planMaxAge) } : {}),
    },
    checkpoint: git ? { git: { dir: git.dir as string, message: (git.message as string | undefined) ?? 'checkpoint: before {{ name }}', exclude: strings(git.exclude), include: strings(git.include) } } : undefined,
    preflight: steps(src, data.preflight, 'preflight'),
    changes,
    hosts: inventory ? inventory.hosts : hostGroups(data.hosts),
    ...(data.rollout !== undefined ? { rollout: rolloutOf(data.rollout) } : {}),
    watch: watch ? { duration: durationMs(watch.duration) ?? 0, interval: durationMs(watch.interval) ?? 5000 } : undefined,
    state: strings(data.state),
    troubleshooting: (data.troubleshooting as Runbook['troubleshooting'] | undefined) ?? [],
    expected: (data.expected as Runbook['expected'] | undefined) ?? [],
    verdict: data.verdict as string | undefined,
    pos: lazyPos(src, '', fileStart),
  };
}

function notARunbook(src: YamlSource): Diagnostic {
  const data = src.data;
  const what =
    src.text.trim() === ''
      ? 'the file is empty'
      : data === null || data === undefined
        ? 'there is no runbook in the file (only comments, an empty document or null)'
        : `found ${Array.isArray(data) ? 'a list' : typeof data === 'string' ? 'text' : typeof data}`;
  const offset = data === null || data === undefined ? 0 : (src.doc.contents?.range?.[0] ?? 0);
  return { code: 'schema', message: `a runbook must be a map with runbook: 1, name and changes; ${what}`, pos: posAt(src, offset) };
}

/** `--inventory FILE`, read: its groups replace the runbook's `hosts:`. */
export interface Inventory {
  file: string;
  hosts: Record<string, HostRef[]>;
}

/**
 * A parsed runbook file → every problem in it (schema, duplicate ids, rollback rules, unknown
 * template variables, parameters a run would certainly reject), or the typed Runbook when there
 * are none. `declared` holds the variable names templates may use; `file` is the absolute path.
 */
export async function checkRunbook(src: YamlSource, file: string, declared: Set<string>, inventory?: Inventory | null): Promise<{ runbook?: Runbook; diagnostics: Diagnostic[] }> {
  const data = src.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return { diagnostics: [notARunbook(src)] };
  const diagnostics: Diagnostic[] = [];
  const invalid: string[] = [];
  const valid = (await runbookCheck())(data);
  const validate = valid ? undefined : await runbookValidator();
  if (validate && !validate(data)) {
    const errors = validate.errors ?? [];
    // Only an invalid runbook pays for loading the error explainer.
    const { schemaDiagnostics } = await import('./schema-errors.js');
    diagnostics.push(...schemaDiagnostics(errors, src, data));
    invalid.push(...errors.map((e) => e.instancePath));
  }
  const raw = data as Raw;
  // `null`: an inventory was given but has problems of its own (reported with it): `on:` is not checked against it.
  const fleet = inventory
    ? { groups: Object.keys(inventory.hosts), groupsFrom: `inventory ${inventory.file}` }
    : { groups: inventory === null ? undefined : raw.hosts !== null && typeof raw.hosts === 'object' ? Object.keys(raw.hosts) : [], groupsFrom: 'hosts:' };
  diagnostics.push(...changeDiagnostics(src, raw), ...fleetDiagnostics(src, raw, fleet), ...templateDiagnostics(src, declared), ...(await stepCheckDiagnostics(src, raw, invalid)));
  if (diagnostics.length > 0) return { diagnostics };
  return { runbook: toRunbook(src, file, raw, inventory ?? undefined), diagnostics };
}
