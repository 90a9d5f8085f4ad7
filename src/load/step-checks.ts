import { isAlias, isMap, isScalar, isSeq, type Node } from 'yaml';
import type { Diagnostic, SourcePos } from '../model/diagnostic.js';
import type { StepSpec } from '../model/runbook.js';
import { durationLimitProblem, parseDuration } from '../model/units.js';
import type { ParamProblem } from '../steps/contract.js';
import { stepType } from '../steps/registry.js';
import { stepTypeOf } from './change-rules.js';
import { where } from './schema-messages.js';
import { aliasTarget, nodeAt, nodeBelow, nodeOffset, posAt, type Located, type YamlSource } from './source.js';

type Raw = Record<string, unknown>;
type Path = (string | number)[];

const templated = (value: unknown) => typeof value === 'string' && value.includes('{{');

function valueAt(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), value);
}

interface StepAt {
  raw: Raw;
  /** The change's index, or -1 for preflight. */
  change: number;
  phase: string;
  index: number;
}

const pathOf = (step: StepAt): Path => (step.change === -1 ? ['preflight', step.index] : ['changes', step.change, step.phase, step.index]);

/** Every step of the runbook with where it is: preflight, and each change's apply, verify, rollback and rehearse. */
function stepsOf(data: Raw): StepAt[] {
  const out: StepAt[] = [];
  const add = (list: unknown, change: number, phase: string) => {
    if (Array.isArray(list)) list.forEach((s, index) => s !== null && typeof s === 'object' && !Array.isArray(s) && out.push({ raw: s as Raw, change, phase, index }));
  };
  add(data.preflight, -1, 'preflight');
  if (Array.isArray(data.changes)) {
    data.changes.forEach((c, i) => {
      if (c === null || typeof c !== 'object') return;
      for (const phase of ['apply', 'verify', 'rollback', 'rehearse']) add((c as Raw)[phase], i, phase);
    });
  }
  return out;
}

/** Durations every step may carry: a timer cannot hold more than ~24.8 days, and a zero timeout always fails. */
function commonDurationProblems(raw: Raw): ParamProblem[] {
  const problems: ParamProblem[] = [];
  for (const key of ['timeout', 'interval', 'settle']) {
    const ms = typeof raw[key] === 'string' ? parseDuration(raw[key]) : undefined;
    if (ms === undefined) continue;
    const limit = durationLimitProblem(ms);
    if (limit) problems.push({ path: [key], message: limit });
    else if (key === 'timeout' && ms === 0) problems.push({ path: [key], message: 'must be longer than 0s: a step with no time to run always fails' });
  }
  return problems;
}

/**
 * Problems a run would certainly hit, found at load time: the step types' own checks on values
 * without templates (templated ones are checked once filled, in resolve), and durations.
 * Steps the schema already rejected are skipped (`invalid` holds the rejected paths).
 */
export async function stepCheckDiagnostics(src: YamlSource, data: Raw, invalid: string[]): Promise<Diagnostic[]> {
  const diagnostics: Diagnostic[] = [];
  const report = (path: Path, message: string) => {
    const offset = nodeOffset(nodeAt(src.doc, path).node) ?? nodeOffset(nodeAt(src.doc, path.slice(0, -1)).node) ?? 0;
    diagnostics.push({ code: 'invalid-param', message: `${where(path.map(String))} ${message}`, pos: posAt(src, offset) });
  };
  const watch = data.watch as Raw | undefined;
  for (const key of ['duration', 'interval']) {
    const ms = typeof watch?.[key] === 'string' ? parseDuration(watch[key]) : undefined;
    const limit = ms === undefined ? undefined : durationLimitProblem(ms);
    if (limit) report(['watch', key], limit);
  }
  for (const step of stepsOf(data)) {
    const { raw } = step;
    // The path is made only for a step the schema rejected somewhere, or one with a problem.
    if (invalid.length > 0) {
      const pointer = `/${pathOf(step).join('/')}`;
      if (invalid.some((p) => p === pointer || p.startsWith(`${pointer}/`))) continue;
    }
    for (const p of commonDurationProblems(raw)) report([...pathOf(step), ...p.path], p.message);
    const type = stepTypeOf(raw);
    const def = type ? stepType(type) : undefined;
    if (!def?.check) continue;
    const params = raw[type!];
    for (const p of await def.check(params)) if (!templated(valueAt(params, p.path))) report([...pathOf(step), type!, ...p.path], p.message);
  }
  return diagnostics;
}

/** Positions of the templated strings under a step's type key, for `checkResolvedStep`. */
export function templatePositions(src: Located, stepNode: Node | undefined, type: string, params: unknown): Record<string, SourcePos> | undefined {
  if (!hasTemplate(params)) return undefined;
  const out: Record<string, SourcePos> = {};
  const walk = (node: unknown, path: string[], depth: number) => {
    if (depth > 50) return;
    const target = isAlias(node) ? aliasTarget(src.doc, node) : node;
    if (isScalar(target) && templated(target.value)) out[path.join('/')] = posAt(src, (target as Node).range?.[0] ?? 0);
    else if (isMap(target)) for (const pair of target.items) walk(pair.value, isScalar(pair.key) ? [...path, String(pair.key.value)] : path, depth + 1);
    else if (isSeq(target)) target.items.forEach((item, i) => walk(item, [...path, String(i)], depth + 1));
  };
  walk(nodeBelow(src.doc, stepNode, [type]).node, [], 0);
  return Object.keys(out).length ? out : undefined;
}

/** Whether a `{{` appears in any string of the value (most steps have none: their positions need no walk). */
export function hasTemplate(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('{{');
  if (value === null || typeof value !== 'object' || depth > 50) return false;
  return (Array.isArray(value) ? value : Object.values(value)).some((v) => hasTemplate(v, depth + 1));
}

/** The step type's checks on a step whose templates are now filled: problems at templated values only (the others were reported at load). */
export async function checkResolvedStep(spec: StepSpec, filled: unknown): Promise<Diagnostic[]> {
  const check = stepType(spec.type)?.check;
  if (!check || !hasTemplate(spec.params)) return [];
  const problems = (await check(filled)).filter((p) => templated(valueAt(spec.params, p.path)));
  // Read only now: the positions of templated values may cost a parse of the file for positions.
  if (problems.length === 0 || !spec.templatePos) return [];
  return problems.map((p) => ({
      code: 'invalid-param',
      message: `${[spec.type, ...p.path].join('.')} ${p.message} (with its templates filled)`,
      pos: spec.templatePos?.[p.path.join('/')] ?? spec.pos,
    }));
}
