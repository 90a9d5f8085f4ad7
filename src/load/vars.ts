import { isMap, isScalar, type Scalar } from 'yaml';
import { UsageError, type Diagnostic, type SourcePos } from '../model/diagnostic.js';
import { parseTemplate } from '../template/template.js';
import { closest } from './schema-messages.js';
import { posAt, readYaml, type ReadYaml, type YamlSource } from './source.js';
import { scalarTemplateProblems, templateProblems } from './template-checks.js';

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `--var key=value` → [key, value]; a malformed one is a usage error. */
export function parseVarFlag(flag: string): [string, string] {
  const eq = flag.indexOf('=');
  const key = eq > 0 ? flag.slice(0, eq) : '';
  if (!VAR_NAME.test(key)) throw new UsageError(`--var expects key=value with a name of letters, digits, _ or -; got ${JSON.stringify(flag)}`);
  return [key, flag.slice(eq + 1)];
}

/** One variable's value and where it was set: the runbook, a vars file (with its node) or --var. */
export interface VarDef {
  name: string;
  value: unknown;
  /** Where the name is written; absent for --var. */
  pos?: SourcePos;
  /** `in tvars.yaml` / `by --var`: said when a problem involves a value set outside the runbook. */
  origin: string;
  src?: YamlSource;
  node?: Scalar;
}

export interface VarsFile {
  file: string;
  read: ReadYaml;
  defs: VarDef[];
}

/** Reads vars files (YAML maps of names to values), keeping where each value is written. */
export async function readVarsFiles(files: string[], sources: Map<string, string>): Promise<{ files: VarsFile[]; diagnostics: Diagnostic[] }> {
  const out: VarsFile[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const file of files) {
    const read = await readYaml(file, 'vars file');
    if (read.text !== undefined) sources.set(file, read.text);
    diagnostics.push(...read.diagnostics);
    const defs: VarDef[] = [];
    out.push({ file, read, defs });
    const src = read.source;
    if (!src || src.doc.contents === null) continue;
    if (!isMap(src.doc.contents)) {
      diagnostics.push({ code: 'vars-file', message: 'a vars file must be a map of names to values', pos: posAt(src, src.doc.contents.range?.[0] ?? 0) });
      continue;
    }
    const values = src.data as Record<string, unknown>;
    for (const pair of src.doc.contents.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      const pos = posAt(src, (pair.key as { range?: number[] } | null)?.range?.[0] ?? 0);
      if (!VAR_NAME.test(key)) {
        diagnostics.push({ code: 'vars-file', message: `invalid variable name ${JSON.stringify(key)}: use letters, digits, "_" or "-", starting with a letter or "_"`, pos });
        continue;
      }
      defs.push({ name: key, value: values[key], pos, origin: `in ${file}`, src, node: isScalar(pair.value) ? pair.value : undefined });
    }
  }
  return { files: out, diagnostics };
}

const didYouMean = (name: string, declared: string[]) => {
  const best = closest(name, declared);
  return best ? ` (did you mean ${best}?)` : '';
};

/** A `--var` must name a variable the runbook declares under `vars:`: a typo is not silently ignored. */
export function checkVarFlags(flags: [string, string][], declared: string[], secrets: string[] = []): void {
  const unknown = flags.filter(([name]) => !declared.includes(name));
  if (unknown.length === 0) return;
  const lines = unknown.map(([name]) =>
    secrets.includes(name)
      ? `--var ${name}: ${name} is a secret; give it in the environment or a vars file (mode 0600), not on the command line, where ps shows it`
      : `--var ${name}: the runbook declares no variable "${name}"${didYouMean(name, declared)}`,
  );
  throw new UsageError(`${lines.join('\n')}\n(variables are declared under vars: in the runbook; declared: ${declared.length ? [...declared].sort().join(', ') : 'none'})`);
}

/** Vars-file keys the runbook does not declare: ignored, with a warning (as Terraform does for tfvars). */
export function undeclaredWarnings(files: VarsFile[], declared: string[]): Diagnostic[] {
  return files.flatMap((f) =>
    f.defs
      .filter((d) => !declared.includes(d.name))
      .map((d) => ({ code: 'undeclared-var', message: `warning: "${d.name}" is not a variable of this runbook${didYouMean(d.name, declared)}; it is ignored`, pos: d.pos })),
  );
}

/** The effective definitions: runbook defaults < vars files (declared names only) < --var. */
export function effectiveVars(runbookDefs: VarDef[], files: VarsFile[], flags: [string, string][], declared: string[]): Map<string, VarDef> {
  const defs = new Map<string, VarDef>(runbookDefs.map((d) => [d.name, d]));
  for (const f of files) for (const d of f.defs) if (declared.includes(d.name)) defs.set(d.name, d);
  for (const [name, value] of flags) defs.set(name, { name, value, origin: 'by --var' });
  return defs;
}

/** Template problems of values set outside the runbook, at their own position (a --var has none: it is named). */
export function externalTemplateProblems(defs: Iterable<VarDef>, known: Set<string>): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const d of defs) {
    if (d.origin === 'by --var' && typeof d.value === 'string') out.push(...templateProblems(d.value, known, () => undefined).map((p) => ({ ...p, message: `--var ${d.name}: ${p.message}` })));
    else if (d.src && d.node && d.origin !== 'runbook') out.push(...scalarTemplateProblems(d.src, d.node, known));
  }
  return out;
}

/** The variables a value's templates use (`env.X` and `name` are not variables). */
export function varRefs(value: unknown): string[] {
  if (typeof value !== 'string' || !value.includes('{{')) return [];
  return parseTemplate(value)
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
