import { isScalar, visit, type Scalar } from 'yaml';
import type { Diagnostic } from '../model/diagnostic.js';
import { parseTemplateRefs } from './template.js';
import { posAt, type YamlSource } from './source.js';

/** Column offset of a character of a scalar's value, when it maps 1:1 onto the source line. */
function valueOffset(node: Scalar, index: number, text: string): number {
  const start = node.range?.[0] ?? 0;
  const value = String(node.value);
  const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
  const raw = text.slice(start + (quoted ? 1 : 0), (node.range?.[1] ?? start) - (quoted ? 1 : 0));
  if (!value.includes('\n') && raw.startsWith(value.slice(0, index + 2))) return start + (quoted ? 1 : 0) + index;
  return start;
}

/**
 * Every `{{ }}` in the runbook must parse and name a known variable (`env.X` and `name` are
 * always known). `known` holds the top-level variable names from all sources.
 */
export function templateDiagnostics(src: YamlSource, known: Set<string>): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  visit(src.doc, {
    Scalar(_key, node) {
      if (!isScalar(node) || typeof node.value !== 'string' || !node.value.includes('{{')) return;
      const { refs, problems } = parseTemplateRefs(node.value);
      for (const p of problems) diagnostics.push({ code: 'template', message: p.message, pos: posAt(src, valueOffset(node, p.offset, src.text)) });
      for (const ref of refs) {
        if (ref.expr.startsWith('env.') || ref.expr === 'name') continue;
        const root = ref.expr.split('.')[0]!;
        if (known.has(root)) continue;
        const list = [...known].sort();
        diagnostics.push({
          code: 'unknown-var',
          message: `unknown variable "${ref.expr}" in template; ${list.length ? `defined: ${list.join(', ')}` : 'no variables are defined'} (set it under vars:, with --var or a --vars-file; environment variables are {{ env.NAME }})`,
          pos: posAt(src, valueOffset(node, ref.offset, src.text)),
        });
      }
    },
  });
  return diagnostics;
}
