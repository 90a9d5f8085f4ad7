import { resolve as resolvePath } from 'node:path';
import { RunbookInvalidError, type Diagnostic } from '../model/diagnostic.js';
import type { Change, Runbook, StepSpec } from '../model/runbook.js';
import { parseDuration } from '../model/units.js';
import { runbookValidator } from '../schema/validator.js';
import { stepType, stepTypeNames } from '../steps/registry.js';
import { nodeAt, nodeOffset, posAt, readYaml, type YamlSource } from './source.js';
import { schemaDiagnostics } from './schema-errors.js';
import { templateDiagnostics } from './template-checks.js';

type Raw = Record<string, unknown>;

export interface LoadOptions {
  /** Names of variables supplied from outside the file (vars files, --var). */
  externalVars?: Iterable<string>;
  /** Source texts collected for code frames (filled in). */
  sources?: Map<string, string>;
}

function durationMs(value: unknown): number | undefined {
  return typeof value === 'string' ? parseDuration(value) : undefined;
}

/** A step's type key; `env` counts only when no other type key is present (it doubles as a common key). */
export function stepTypeOf(raw: Raw): string | undefined {
  return stepTypeNames.find((t) => t !== 'env' && t in raw) ?? ('env' in raw ? 'env' : undefined);
}

function toStep(src: YamlSource, raw: Raw, path: (string | number)[]): StepSpec {
  const type = stepTypeOf(raw)!;
  const offset = nodeOffset(nodeAt(src.doc, path).node) ?? 0;
  return {
    type,
    params: raw[type],
    name: raw.name as string | undefined,
    timeout: durationMs(raw.timeout),
    retries: raw.retries as number | undefined,
    interval: durationMs(raw.interval),
    passes: raw.passes as number | undefined,
    settle: durationMs(raw.settle),
    cwd: raw.cwd as string | undefined,
    env: type === 'env' ? undefined : (raw.env as Record<string, string> | undefined),
    pos: posAt(src, offset),
  };
}

function steps(src: YamlSource, list: unknown, path: (string | number)[]): StepSpec[] {
  return Array.isArray(list) ? list.map((s, i) => toStep(src, s as Raw, [...path, i])) : [];
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

function toRunbook(src: YamlSource, data: Raw): Runbook {
  const policy = (data.policy ?? {}) as Raw;
  const watch = data.watch as Raw | undefined;
  const git = (data.checkpoint as Raw | undefined)?.git as Raw | undefined;
  const changes: Change[] = ((data.changes as Raw[]) ?? []).map((c, i) => ({
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
    apply: steps(src, c.apply, ['changes', i, 'apply']),
    verify: steps(src, c.verify, ['changes', i, 'verify']),
    rollback: c.rollback === undefined ? undefined : steps(src, c.rollback, ['changes', i, 'rollback']),
    pos: posAt(src, nodeOffset(nodeAt(src.doc, ['changes', i]).node) ?? 0),
  }));
  return {
    file: src.file,
    name: data.name as string,
    title: (data.title as string | undefined) ?? (data.name as string),
    description: data.description as string | undefined,
    vars: (data.vars as Raw | undefined) ?? {},
    secrets: strings(data.secrets),
    policy: {
      maxRisk: (policy.maxRisk as number | undefined) ?? 5,
      confirmFrom: (policy.confirmFrom as number | undefined) ?? 3,
      onFailure: (policy.onFailure as Runbook['policy']['onFailure'] | undefined) ?? 'rollback-all',
    },
    checkpoint: git ? { git: { dir: git.dir as string, message: (git.message as string | undefined) ?? 'checkpoint: before {{ name }}', exclude: strings(git.exclude), include: strings(git.include) } } : undefined,
    preflight: steps(src, data.preflight, ['preflight']),
    changes,
    watch: watch ? { duration: durationMs(watch.duration) ?? 0, interval: durationMs(watch.interval) ?? 5000 } : undefined,
    state: strings(data.state),
    troubleshooting: (data.troubleshooting as Runbook['troubleshooting'] | undefined) ?? [],
    expected: (data.expected as Runbook['expected'] | undefined) ?? [],
    verdict: data.verdict as string | undefined,
    pos: posAt(src, 0),
  };
}

function semanticDiagnostics(src: YamlSource, data: Raw): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const changes = Array.isArray(data.changes) ? (data.changes as unknown[]) : [];
  const seen = new Map<string, number>();
  changes.forEach((c, i) => {
    if (c === null || typeof c !== 'object') return;
    const change = c as Raw;
    const id = change.id;
    if (typeof id === 'string') {
      const node = nodeAt(src.doc, ['changes', i, 'id']).node;
      const pos = posAt(src, nodeOffset(node) ?? 0);
      const first = seen.get(id);
      if (first !== undefined) diagnostics.push({ code: 'duplicate-id', message: `duplicate change id "${id}" (first used at line ${first})`, pos });
      else seen.set(id, pos.line);
    }
    if (change.rollback !== undefined || !Array.isArray(change.apply)) return;
    (change.apply as unknown[]).forEach((s, k) => {
      if (s === null || typeof s !== 'object') return;
      const type = stepTypeOf(s as Raw);
      const def = type ? stepType(type) : undefined;
      if (!def) return;
      let invertible = false;
      try {
        const params = def.normalize ? def.normalize((s as Raw)[type!]) : (s as Raw)[type!];
        invertible = def.inverse !== undefined && (def.invertible?.(params) ?? false);
      } catch {
        return;
      }
      if (!invertible) {
        const node = nodeAt(src.doc, ['changes', i, 'apply', k]).node;
        diagnostics.push({
          code: 'not-invertible',
          message: `change "${String(id)}" has no rollback, and its apply step ${k + 1} (${type}) cannot be undone automatically: add rollback steps`,
          pos: posAt(src, nodeOffset(node) ?? 0),
        });
      }
    });
  });
  return diagnostics;
}

/**
 * YAML text → validated, typed Runbook. Collects every problem (syntax, schema, duplicate
 * ids, unknown template variables, missing rollbacks) and throws them together.
 */
export async function loadRunbook(file: string, options: LoadOptions = {}): Promise<Runbook> {
  const path = resolvePath(file);
  const sources = options.sources ?? new Map<string, string>();
  const read = await readYaml(path);
  if (read.text !== undefined) sources.set(path, read.text);
  if (!read.source) throw new RunbookInvalidError(read.diagnostics, sources);
  const src = read.source;
  const data = src.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const what = data === null || data === undefined ? 'the file is empty' : `found ${Array.isArray(data) ? 'a list' : typeof data}`;
    throw new RunbookInvalidError([{ code: 'schema', message: `a runbook must be a map with runbook: 1, name and changes; ${what}`, pos: posAt(src, src.doc.contents?.range?.[0] ?? 0) }], sources);
  }
  const validate = await runbookValidator();
  const diagnostics: Diagnostic[] = [];
  if (!validate(data)) diagnostics.push(...schemaDiagnostics(validate.errors ?? [], src, data));
  const raw = data as Raw;
  const varNames = new Set<string>([...Object.keys((raw.vars as Raw | undefined) ?? {}), ...(options.externalVars ?? [])]);
  diagnostics.push(...semanticDiagnostics(src, raw), ...templateDiagnostics(src, varNames));
  if (diagnostics.length > 0) {
    diagnostics.sort((a, b) => (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.col ?? 0) - (b.pos?.col ?? 0));
    throw new RunbookInvalidError(diagnostics, sources);
  }
  return toRunbook(src, raw);
}
