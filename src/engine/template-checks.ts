import type { Scalar } from 'yaml';
import type { Diagnostic, SourcePos } from '../model/diagnostic.js';
import { parseTemplateRefs } from './template.js';
import { posAt, type YamlSource } from './source.js';
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
 * escape), the scalar's start.
 */
export function templateOffset(node: Scalar, index: number, text: string): number {
  const [start, end] = node.range ?? [0, 0];
  const inValue = openings(String(node.value));
  const inSource = openings(text.slice(start, end));
  const n = inValue.indexOf(index);
  return n !== -1 && inValue.length === inSource.length ? start + inSource[n]! : start;
}

function unknownVarMessage(expr: string, known: Set<string>): string {
  const list = [...known].sort();
  return `unknown variable "${expr}" in template; ${list.length ? `defined: ${list.join(', ')}` : 'no variables are defined'} (declare it under vars:, where --var and --vars-file can set it; environment variables are {{ env.NAME }})`;
}

/** Syntax problems and unknown variables of one string; `at` maps a "{{" offset to a position. */
export function templateProblems(value: string, known: Set<string>, at: (offset: number) => SourcePos | undefined): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const { refs, problems } = parseTemplateRefs(value);
  for (const p of problems) diagnostics.push({ code: 'template', message: p.message, pos: at(p.offset) });
  for (const ref of refs) {
    if (ref.expr.startsWith('env.') || ref.expr === 'name') continue;
    if (known.has(ref.expr.split('.')[0]!)) continue;
    diagnostics.push({ code: 'unknown-var', message: unknownVarMessage(ref.expr, known), pos: at(ref.offset) });
  }
  return diagnostics;
}

/** Template problems of a scalar node of a YAML file, at the line and column of each "{{". */
export function scalarTemplateProblems(src: YamlSource, node: Scalar, known: Set<string>): Diagnostic[] {
  if (typeof node.value !== 'string' || !node.value.includes('{{')) return [];
  return templateProblems(node.value, known, (offset) => posAt(src, templateOffset(node, offset, src.text)));
}

/**
 * Every `{{ }}` in the runbook must parse and name a known variable (`env.X` and `name` are
 * always known). `known` holds the top-level variable names.
 */
export function templateDiagnostics(src: YamlSource, known: Set<string>): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  eachNode(src.doc.contents, { scalar: (node) => diagnostics.push(...scalarTemplateProblems(src, node, known)) });
  return diagnostics;
}
