import { isMap, isScalar, isSeq, type Node, type Scalar } from 'yaml';
import type { Diagnostic, SourcePos } from '../model/diagnostic.js';
import type { TemplateField } from '../steps/contract.js';
import { stepType, stepTypeNames } from '../steps/registry.js';
import { fieldProblems } from '../template/fill.js';
import { parseTemplate } from '../template/template.js';
import { posAt, type YamlSource } from './source.js';
import { stepTypeOf } from './change-rules.js';
import { hasTemplate } from './step-checks.js';
import { eachNode } from './yaml-structure.js';

/** Offsets of every "{{" in `text` (overlapping runs counted one by one). */
function openings(text: string): number[] {
  const at: number[] = [];
  for (let i = text.indexOf('{{'); i !== -1; i = text.indexOf('{{', i + 1)) at.push(i);
  return at;
}

/**
 * Source offset of the "{{" at `index` of a scalar's value. Quoting, escapes, folding and
 * block indentation change everything in a scalar except its braces, so the n-th "{{" of the
 * value is the n-th "{{" of its source. When they do not line up (a brace written as an
 * escape), the template is looked for by its own text, else the scalar's start.
 */
export function templateOffset(node: Scalar, index: number, text: string): number {
  const [start, end] = node.range ?? [0, 0];
  const value = String(node.value);
  const inValue = openings(value);
  const inSource = openings(text.slice(start, end));
  const n = inValue.indexOf(index);
  if (n !== -1 && inValue.length === inSource.length) return start + inSource[n]!;
  const close = value.indexOf('}}', index);
  const whole = value.slice(index, close === -1 ? index + 2 : close + 2);
  const needle = /^[^\n\\"']{0,200}$/.test(whole) ? whole : '{{';
  let nth = 0;
  for (let at = value.indexOf(needle); at !== -1 && at < index; at = value.indexOf(needle, at + 1)) nth++;
  let found = text.indexOf(needle, start);
  for (let k = 0; k < nth && found !== -1; k++) found = text.indexOf(needle, found + 1);
  return found !== -1 && found < end ? found : start;
}

function unknownVarMessage(expr: string, known: Set<string>): string {
  const list = [...known].sort();
  return `unknown variable "${expr}" in template; ${list.length ? `defined: ${list.join(', ')}` : 'no variables are defined'} (declare it under vars:, where --var and --vars-file can set it; environment variables are {{ env.NAME }})`;
}

/** Where a string stands, for `{{ host.… }}`: in a step of a change on hosts (where it names the target host), or anywhere else (where it cannot). */
export type HostPlace = 'host-step' | 'elsewhere';

const HOST_EXPR = /^host\.(name|vars\.[A-Za-z_][A-Za-z0-9_-]*(\..+)?)$/;

function hostRefProblem(expr: string, place: HostPlace): string | undefined {
  const t = `{{ ${expr} }}`;
  if (place === 'elsewhere') return `${t} names the target host: it can be used only in the steps of a change that runs on hosts (on: GROUP), not in a local change, preflight, checkpoint, vars or titles`;
  return HOST_EXPR.test(expr) ? undefined : `${t} is not a host template: the target host is {{ host.name }} and its vars are {{ host.vars.NAME }}`;
}

/**
 * Syntax problems and unknown variables of one string, and — when it lands in a shell command,
 * SQL or a URL (`field`) — templates placed where no value can be passed safely. `at` maps an
 * offset of the string to a position.
 */
export function templateProblems(value: string, known: Set<string>, at: (offset: number) => SourcePos | undefined, field?: TemplateField, place?: HostPlace): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const { refs, problems } = parseTemplate(value);
  for (const p of problems) diagnostics.push({ code: 'template', message: p.message, pos: at(p.offset) });
  for (const ref of refs) {
    if (ref.expr.startsWith('env.') || ref.expr === 'name') continue;
    const head = ref.expr.split('.')[0]!;
    // `host` is the target host, unless (in a runbook without changes on hosts) it is a declared variable.
    if (head === 'host' && place !== undefined && (place === 'host-step' || !known.has('host'))) {
      const problem = hostRefProblem(ref.expr, place);
      if (problem) diagnostics.push({ code: 'host-template', message: problem, pos: at(ref.offset) });
      continue;
    }
    if (known.has(head)) continue;
    diagnostics.push({ code: 'unknown-var', message: unknownVarMessage(ref.expr, known), pos: at(ref.offset) });
  }
  if (field) for (const p of fieldProblems(value, field)) diagnostics.push({ code: 'template', message: p.message, pos: at(p.offset) });
  return diagnostics;
}

/** Template problems of a scalar node of a YAML file, at the line and column of each "{{". */
export function scalarTemplateProblems(src: YamlSource, node: Scalar, known: Set<string>, field?: TemplateField, place?: HostPlace): Diagnostic[] {
  if (typeof node.value !== 'string' || !node.value.includes('{{')) return [];
  return templateProblems(node.value, known, (offset) => posAt(src, templateOffset(node, offset, src.text)), field, place);
}

/**
 * Scalars where `{{ host.… }}` names the target host: in the steps of changes that run on hosts,
 * and under top-level `x-` keys (anchors, checked again where they are used, when resolved).
 */
function hostScalars(src: YamlSource): Set<Scalar> {
  const found = new Set<Scalar>();
  const collect = (node: unknown) => eachNode(node, { scalar: (s) => void found.add(s) });
  const root = src.doc.contents;
  if (isMap(root)) for (const pair of root.items) if (isScalar(pair.key) && String(pair.key.value).startsWith('x-')) collect(pair.value);
  const changes = src.doc.get('changes', true);
  if (!isSeq(changes)) return found;
  for (const change of changes.items) {
    if (!isMap(change)) continue;
    const on = change.get('on', true);
    const local = on === undefined || (isScalar(on) && on.value === 'local') || (isSeq(on) && on.items.every((g) => isScalar(g) && g.value === 'local'));
    if (local) continue;
    for (const phase of ['apply', 'verify', 'rollback']) collect(change.get(phase, true));
  }
  return found;
}

/** The step maps of the runbook: preflight and every change's apply, verify, rollback and rehearse. */
function stepNodes(src: YamlSource): Node[] {
  const steps: Node[] = [];
  const list = (node: unknown) => {
    if (isSeq(node)) for (const item of node.items) if (isMap(item)) steps.push(item);
  };
  list(src.doc.get('preflight', true));
  const changes = src.doc.get('changes', true);
  if (isSeq(changes)) {
    for (const change of changes.items) {
      if (!isMap(change)) continue;
      for (const phase of ['apply', 'verify', 'rollback', 'rehearse']) list(change.get(phase, true));
    }
  }
  return steps;
}

/** Scalars of step params whose templates land in a shell command, SQL or a URL. */
function placedScalars(src: YamlSource): Map<Scalar, TemplateField> {
  const placed = new Map<Scalar, TemplateField>();
  for (const step of stepNodes(src)) {
    if (!isMap(step)) continue;
    // Most steps hold no template: their text says so without a walk through their keys.
    const [start, , end] = step.range ?? [0, 0, src.text.length];
    if (!src.text.slice(start, end).includes('{{')) continue;
    const keys = step.items.map((p) => (isScalar(p.key) ? String(p.key.value) : ''));
    const type = stepTypeNames.find((t) => t !== 'env' && keys.includes(t)) ?? (keys.includes('env') ? 'env' : undefined);
    const fields = type ? stepType(type)?.templateFields : undefined;
    if (!type || !fields) continue;
    const params = step.get(type, true);
    for (const [path, field] of Object.entries(fields)) {
      let node: unknown = params;
      for (const key of path === '' ? [] : path.split('.')) node = isMap(node) ? node.get(key, true) : undefined;
      if (isScalar(node) && typeof node.value === 'string' && node.value.includes('{{')) placed.set(node, field);
    }
  }
  return placed;
}

/**
 * Every `{{ }}` in the runbook must parse and name a known variable (`env.X` and `name` are
 * always known), and templates in shell commands, SQL and URLs must sit where a value can be
 * passed safely. `known` holds the top-level variable names.
 */
export function templateDiagnostics(src: YamlSource, known: Set<string>): Diagnostic[] {
  // After the fast parse, the walk below (and the document it walks) is needed only for a problem.
  if (src.aliasPaths && !(mayHoldTemplates(src.text) && dataMayHaveTemplateProblems(src.data, src.aliasPaths, known))) return [];
  const diagnostics: Diagnostic[] = [];
  const placed = placedScalars(src);
  const onHosts = src.text.includes('host') ? hostScalars(src) : new Set<Scalar>();
  // Host vars are data, never filled: a "{{" in one is a character like any other.
  const hostVars = new Set<unknown>();
  eachNode(src.doc.get('hosts', true), { scalar: (node) => void hostVars.add(node) });
  eachNode(src.doc.contents, {
    scalar: (node) => {
      if (!hostVars.has(node)) diagnostics.push(...scalarTemplateProblems(src, node, known, placed.get(node), onHosts.has(node) ? 'host-step' : 'elsewhere'));
    },
  });
  return diagnostics;
}

/** A value holds "{{" only if its source does, or a backslash escape or line join in a double-quoted string makes one. */
const mayHoldTemplates = (text: string) => text.includes('{{') || text.includes('\\');

const isMapData = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Whether `templateDiagnostics` could find a problem, answered from the data: each string (key or
 * value) is checked wherever it is reached — through aliases too — and, where the document walk
 * could take it as a host step's or as a command, SQL or URL, as such. The answer may be yes
 * where the walk finds nothing (then the walk decides), never no where it finds something: on
 * a path without aliases the data and the walk see the same strings in the same places, and
 * the one place decided beside the path, a change's `on:`, counts both ways when an alias
 * stands in it (the walk takes an alias there for hosts).
 */
export function dataMayHaveTemplateProblems(data: unknown, aliasPaths: (string | number)[][], known: Set<string>): boolean {
  // The same text in the same place has the same problems: aliased steps, and a placed value seen again with its step, are read once.
  const seen = new Map<string, boolean>();
  const problemAt = (text: string, place: HostPlace, field?: TemplateField) => {
    const key = `${place} ${field ?? ''} ${text}`;
    let found = seen.get(key);
    if (found === undefined) seen.set(key, (found = templateProblems(text, known, () => undefined, field, place).length > 0));
    return found;
  };
  const problem = (text: string, places: HostPlace[], field?: TemplateField) => text.includes('{{') && places.some((place) => problemAt(text, place, field));
  const visit = (value: unknown, places: HostPlace[], depth = 0): boolean => {
    if (typeof value === 'string') return problem(value, places);
    if (value === null || typeof value !== 'object') return false;
    if (depth > 200) return true;
    if (Array.isArray(value)) return value.some((item) => visit(item, places, depth + 1));
    return Object.entries(value).some(([key, item]) => problem(key, places) || visit(item, places, depth + 1));
  };
  const steps = (list: unknown, places: HostPlace[]): boolean => {
    if (!Array.isArray(list)) return visit(list, places);
    return list.some((step) => {
      if (!isMapData(step)) return visit(step, places);
      const type = stepTypeOf(step);
      const fields = type && hasTemplate(step[type]) ? stepType(type)?.templateFields : undefined;
      const placed = Object.entries(fields ?? {}).some(([path, field]) => {
        let value: unknown = step[type!];
        for (const key of path === '' ? [] : path.split('.')) value = isMapData(value) ? value[key] : undefined;
        return typeof value === 'string' && problem(value, places, field);
      });
      return placed || visit(step, places);
    });
  };
  const aliasIn = (prefix: (string | number)[]) => aliasPaths.some((path) => prefix.every((segment, i) => path[i] === segment));
  const changePlaces = (change: Record<string, unknown>, index: number): HostPlace[] => {
    if (aliasPaths.length > 0 && aliasIn(['changes', index, 'on'])) return ['host-step', 'elsewhere'];
    const on = change.on;
    const local = on === undefined || on === 'local' || (Array.isArray(on) && on.every((g) => g === 'local'));
    return [local ? 'elsewhere' : 'host-step'];
  };
  if (!isMapData(data)) return visit(data, ['elsewhere']);
  return Object.entries(data).some(([key, value]) => {
    if (problem(key, ['elsewhere'])) return true;
    if (key === 'hosts') return false;
    if (key.startsWith('x-')) return visit(value, ['host-step']);
    if (key === 'preflight') return steps(value, ['elsewhere']);
    if (key !== 'changes' || !Array.isArray(value)) return visit(value, ['elsewhere']);
    return value.some((change, i) => {
      if (!isMapData(change)) return visit(change, ['elsewhere']);
      const places = changePlaces(change, i);
      return Object.entries(change).some(([k, v]) => {
        if (problem(k, ['elsewhere'])) return true;
        if (k === 'apply' || k === 'verify' || k === 'rollback') return steps(v, places);
        return k === 'rehearse' ? steps(v, ['elsewhere']) : visit(v, ['elsewhere']);
      });
    });
  });
}
