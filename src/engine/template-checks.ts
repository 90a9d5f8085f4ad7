import { isMap, isScalar, isSeq, visit, type Node, type Scalar } from 'yaml';
import type { Diagnostic } from '../model/diagnostic.js';
import type { TemplateField } from '../steps/contract.js';
import { stepType, stepTypeNames } from '../steps/registry.js';
import { fieldProblems } from './fill.js';
import { parseTemplate } from './template.js';
import { posAt, type YamlSource } from './source.js';

/**
 * Source offset of a character of a scalar's value. The value's text may differ from the
 * source (escapes, folding, block indentation), so the template is found by its own text:
 * the k-th occurrence in the value is the k-th in the source. Falls back to the scalar.
 */
function valueOffset(node: Scalar, index: number, text: string): number {
  const start = node.range?.[0] ?? 0;
  const end = node.range?.[1] ?? start;
  const value = String(node.value);
  const close = value.indexOf('}}', index);
  const whole = value.slice(index, close === -1 ? index + 2 : close + 2);
  const needle = /^[^\n\\"']{0,200}$/.test(whole) ? whole : '{{';
  let nth = 0;
  for (let at = value.indexOf(needle); at !== -1 && at < index; at = value.indexOf(needle, at + 1)) nth++;
  let found = text.indexOf(needle, start);
  for (let k = 0; k < nth && found !== -1; k++) found = text.indexOf(needle, found + 1);
  return found !== -1 && found < end ? found : start;
}

/** The step maps of the runbook: preflight and every change's apply, verify and rollback. */
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
      for (const phase of ['apply', 'verify', 'rollback']) list(change.get(phase, true));
    }
  }
  return steps;
}

/** Scalars of step params whose templates land in a shell command, SQL or a URL. */
function placedScalars(src: YamlSource): Map<Scalar, TemplateField> {
  const placed = new Map<Scalar, TemplateField>();
  for (const step of stepNodes(src)) {
    if (!isMap(step)) continue;
    const keys = step.items.map((p) => (isScalar(p.key) ? String(p.key.value) : ''));
    const type = stepTypeNames.find((t) => t !== 'env' && keys.includes(t)) ?? (keys.includes('env') ? 'env' : undefined);
    const fields = type ? stepType(type)?.templateFields : undefined;
    if (!type || !fields) continue;
    const params = step.get(type, true);
    for (const [path, field] of Object.entries(fields)) {
      let node: unknown = params;
      for (const key of path === '' ? [] : path.split('.')) node = isMap(node) ? node.get(key, true) : undefined;
      if (isScalar(node) && typeof node.value === 'string') placed.set(node, field);
    }
  }
  return placed;
}

/**
 * Every `{{ }}` in the runbook must parse and name a known variable (`env.X` and `name` are
 * always known), and templates in shell commands, SQL and URLs must sit where a value can be
 * passed safely. `known` holds the top-level variable names from all sources.
 */
export function templateDiagnostics(src: YamlSource, known: Set<string>): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const placed = placedScalars(src);
  visit(src.doc, {
    Scalar(_key, node) {
      if (!isScalar(node) || typeof node.value !== 'string' || !node.value.includes('{{')) return;
      const { refs, problems } = parseTemplate(node.value);
      const at = (offset: number) => posAt(src, valueOffset(node, offset, src.text));
      for (const p of problems) diagnostics.push({ code: 'template', message: p.message, pos: at(p.offset) });
      for (const ref of refs) {
        if (ref.expr.startsWith('env.') || ref.expr === 'name') continue;
        const root = ref.expr.split('.')[0]!;
        if (known.has(root)) continue;
        const list = [...known].sort();
        diagnostics.push({
          code: 'unknown-var',
          message: `unknown variable "${ref.expr}" in template; ${list.length ? `defined: ${list.join(', ')}` : 'no variables are defined'} (set it under vars:, with --var or a --vars-file; environment variables are {{ env.NAME }})`,
          pos: at(ref.offset),
        });
      }
      for (const p of fieldProblems(node.value, placed.get(node))) diagnostics.push({ code: 'template', message: p.message, pos: at(p.offset) });
    },
  });
  return diagnostics;
}
