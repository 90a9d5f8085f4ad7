import type { Diagnostic } from '../model/diagnostic.js';
import { parseTemplateRefs } from './template.js';
import type { VarDef } from './vars.js';

/** The variables a value's templates use (`env.X` and `name` are not variables). */
export function varRefs(value: unknown): string[] {
  if (typeof value !== 'string' || !value.includes('{{')) return [];
  return parseTemplateRefs(value)
    .refs.filter((r) => !r.expr.startsWith('env.') && r.expr !== 'name')
    .map((r) => r.expr.split('.')[0]!);
}

/**
 * Variables whose value refers back to itself, directly or through others. Each cycle is
 * reported once, at the variable of the cycle defined first:
 * `variable a refers to itself (a → b → a)`.
 */
export function varCycleDiagnostics(defs: Map<string, VarDef>): Diagnostic[] {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (name: string) => {
    state.set(name, 'visiting');
    stack.push(name);
    for (const ref of new Set(varRefs(defs.get(name)?.value))) {
      if (!defs.has(ref)) continue;
      if (state.get(ref) === 'visiting') cycles.push(stack.slice(stack.indexOf(ref)));
      else if (!state.has(ref)) visit(ref);
    }
    stack.pop();
    state.set(name, 'done');
  };
  for (const name of defs.keys()) if (!state.has(name)) visit(name);
  return cycles.map((found) => {
    // Start the cycle at a variable with a position in a file (a --var has none).
    const start = Math.max(0, found.findIndex((n) => defs.get(n)!.pos));
    const cycle = [...found.slice(start), ...found.slice(0, start)];
    const first = defs.get(cycle[0]!)!;
    const outside = cycle.map((n) => defs.get(n)!).filter((d) => d.origin !== 'runbook');
    const where = outside.length ? `; ${outside.map((d) => `${d.name} is set ${d.origin}`).join(', ')}` : '';
    const message = `variable ${first.name} refers to itself (${[...cycle, cycle[0]].join(' → ')}${where})`;
    return { code: 'var-cycle', message: first.pos ? message : `--var ${first.name}: ${message}`, pos: first.pos };
  });
}
