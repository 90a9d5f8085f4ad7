import type { Diagnostic } from '../model/diagnostic.js';
import type { SchemaError } from '../schema/validator.js';
import { stepTypeNames } from '../steps/registry.js';
import { closest, isStepPath, leafMessage, typeName, typeWords, valueAt, where, type Located, type Placed } from './schema-messages.js';
import { nodeAt, nodeOffset, posAt, type YamlSource } from './source.js';

function segments(instancePath: string): string[] {
  return instancePath === '' ? [] : instancePath.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

const startsWith = (path: string[], prefix: string[]) => prefix.length <= path.length && prefix.every((s, i) => path[i] === s);
const samePath = (a: string[], b: string[]) => a.length === b.length && startsWith(a, b);
const isCombinator = (x: Located) => x.e.keyword === 'oneOf' || x.e.keyword === 'anyOf';

/** `x` was produced inside one of the branches of combinator `c`. */
function inside(x: Located, c: Located, branch?: number): boolean {
  return x !== c && x.e.schemaPath.startsWith(`${c.e.schemaPath}/${branch === undefined ? '' : `${branch}/`}`) && startsWith(x.path, c.path);
}

/**
 * A value of the wrong type makes every other keyword of the same schema meaningless (a step
 * that is a number "matches" every `required` branch): keep only the type error.
 */
function dropSiblingsOfTypeErrors(all: Located[]): Located[] {
  const scopes = all.filter((x) => x.e.keyword === 'type').map((t) => ({ t, scope: t.e.schemaPath.slice(0, -'/type'.length) }));
  return all.filter((x) => !scopes.some(({ t, scope }) => x !== t && x.e.schemaPath.startsWith(`${scope}/`) && startsWith(x.path, t.path)));
}

type Branch = { required?: string[]; [k: string]: unknown };

/** Branches that only say which keys must be present (`oneOf: [{required: [a]}, {required: [b]}]`). */
function keyChoice(branches: Branch[]): boolean {
  return branches.length > 0 && branches.every((b) => Array.isArray(b.required) && Object.keys(b).every((k) => k === 'required' || k === 'not'));
}

class Explainer {
  readonly out: Placed[] = [];
  constructor(
    private readonly all: Located[],
    private readonly data: unknown,
  ) {}

  /** Unknown keys of the map at `path`: a missing key that one of them misspells is not reported twice. */
  private misspelt(path: string[], missing: string[]): boolean {
    const unknown = this.all.filter((x) => x.e.keyword === 'additionalProperties' && samePath(x.path, path)).map((x) => String(x.e.params.additionalProperty));
    return unknown.some((u) => closest(u, missing) !== undefined);
  }

  explain(items: Located[]): void {
    const combinators = items.filter(isCombinator);
    const outer = combinators.filter((c) => !combinators.some((o) => inside(c, o)));
    for (const x of items) {
      if (isCombinator(x) || combinators.some((c) => inside(x, c))) continue;
      if (x.e.keyword === 'pattern' && x.e.schemaPath.includes('/propertyNames/')) continue;
      if (x.e.keyword === 'required' && this.misspelt(x.path, [String(x.e.params.missingProperty)])) continue;
      const placed = leafMessage(x, this.data);
      if (placed) this.out.push(placed);
    }
    for (const c of outer) this.combinator(c, items.filter((x) => inside(x, c)));
  }

  private combinator(c: Located, members: Located[]): void {
    const { path } = c;
    const label = where(path);
    const branches = (Array.isArray(c.e.schema) ? c.e.schema : []) as Branch[];
    const passing = c.e.params.passingSchemas;
    const stepTypeChoice = isStepPath(path) && keyChoice(branches) && branches.every((b) => b.required!.length === 1 && stepTypeNames.includes(b.required![0]!));
    if (stepTypeChoice) {
      // `env` beside another type key is the common key, not a second type.
      const present = stepTypeNames.filter((t) => t !== 'env' && valueAt(this.data, [...path, t]) !== undefined);
      if (present.length === 0 && valueAt(this.data, [...path, 'env']) !== undefined) present.push('env');
      if (present.length > 1) this.out.push({ path, message: `step has ${present.length} type keys: ${present.join(' and ')} — a step has exactly one`, onKey: present[1] });
      else if (present.length === 0 && !this.all.some((x) => x.e.keyword === 'additionalProperties' && samePath(x.path, path))) this.out.push({ path, message: `step has no type key; expected one of: ${stepTypeNames.join(', ')}` });
      return;
    }
    if (Array.isArray(passing)) {
      const keys = passing.flatMap((i: number) => branches[i]?.required ?? []);
      this.out.push({ path, message: keys.length > 1 ? `${label} has both ${keys.map((k) => `"${k}"`).join(' and ')}; use only one` : `${label} matches more than one of its allowed forms` });
      return;
    }
    const perBranch = branches.map((_, i) => members.filter((x) => inside(x, c, i)));
    if (keyChoice(branches)) return this.keyChoice(path, branches, perBranch);
    const mismatch = (errs: Located[]) => errs.length > 0 && errs.every((x) => x.e.keyword === 'type' && samePath(x.path, path));
    const candidates = perBranch.map((errs, i) => ({ errs, i })).filter(({ errs }) => errs.length > 0 && !mismatch(errs));
    if (candidates.length === 0) {
      const types = perBranch.flat().filter((x) => x.e.keyword === 'type').map((x) => String(x.e.params.type));
      this.out.push({ path, message: types.length ? `${label} must be ${typeWords(types)}, got ${typeName(valueAt(this.data, path))}` : `${label} is not valid here` });
      return;
    }
    // The branch the author most likely meant: its errors reach deepest into the value.
    const depth = (errs: Located[]) => Math.max(...errs.map((x) => x.path.length));
    candidates.sort((a, b) => depth(b.errs) - depth(a.errs) || a.errs.length - b.errs.length || a.i - b.i);
    const before = this.out.length;
    this.explain(candidates[0]!.errs);
    if (this.out.length === before) this.out.push({ path, message: `${label} is not valid here` });
  }

  private keyChoice(path: string[], branches: Branch[], perBranch: Located[][]): void {
    const label = where(path);
    const missing = perBranch.map((errs) => errs.filter((x) => x.e.keyword === 'required' && samePath(x.path, path)).map((x) => String(x.e.params.missingProperty)));
    if (this.misspelt(path, missing.flat())) return;
    const partial = missing.map((m, i) => ({ m, i })).filter(({ m, i }) => m.length > 0 && m.length < branches[i]!.required!.length);
    const fewest = Math.min(...partial.map(({ m }) => m.length));
    const best = partial.filter(({ m }) => m.length === fewest);
    if (best.length === 1) {
      const keys = best[0]!.m;
      this.out.push({ path, message: `${label} is missing required key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(' and ')}` });
      return;
    }
    const options = branches.map((b) => b.required!.join(' and '));
    const single = branches.every((b) => b.required!.length === 1);
    this.out.push({ path, message: single ? `${label} needs one of: ${options.join(', ')}` : `${label} needs ${options.join(', or ')}` });
  }
}

/**
 * Turns ajv's errors into one clear message per problem. Where the schema offers alternatives
 * (oneOf/anyOf), only the alternative the value was most likely meant to be is explained; a
 * value of the wrong type gets one message. Never returns nothing for a failed validation.
 */
export function schemaDiagnostics(errors: SchemaError[], src: YamlSource, data: unknown): Diagnostic[] {
  const located = dropSiblingsOfTypeErrors(errors.filter((e) => e.keyword !== 'if').map((e) => ({ e, path: segments(e.instancePath) })));
  const explainer = new Explainer(located, data);
  explainer.explain(located);
  const placed = explainer.out.length > 0 ? explainer.out : errors.slice(0, 1).map((e) => ({ path: segments(e.instancePath), message: `${where(segments(e.instancePath))} ${e.message ?? 'is invalid'}` }) as Placed);
  const out = new Map<string, Diagnostic>();
  for (const { path, message, onKey } of placed) {
    const { node, pair } = nodeAt(src.doc, onKey !== undefined ? [...path, onKey] : path);
    const offset = onKey !== undefined ? nodeOffset(pair) : (nodeOffset(node) ?? nodeOffset(pair));
    const pos = posAt(src, offset ?? nodeOffset(nodeAt(src.doc, path).node) ?? 0);
    out.set(`${pos.line}:${pos.col}:${message}`, { code: 'schema', message, pos });
  }
  return [...out.values()];
}
