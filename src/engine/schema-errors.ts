import type { Diagnostic } from '../model/diagnostic.js';
import { DURATION_PATTERN, SIZE_PATTERN } from '../model/units.js';
import type { SchemaError } from '../schema/validator.js';
import { stepTypeNames } from '../steps/registry.js';
import { nodeAt, nodeOffset, posAt, type YamlSource } from './source.js';

function segments(instancePath: string): string[] {
  return instancePath === '' ? [] : instancePath.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** `changes[1].apply[0].run` — how a person names the place. */
function where(path: string[]): string {
  return path.reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
}

function isStepPath(path: string[]): boolean {
  const n = path.length;
  return n >= 2 && /^\d+$/.test(path[n - 1]!) && ['apply', 'verify', 'rollback', 'preflight'].includes(path[n - 2]!);
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

function suggest(word: string, options: string[]): string {
  const best = options.map((o) => ({ o, d: editDistance(word.toLowerCase(), o.toLowerCase()) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(1, Math.floor(word.length / 3)) ? ` (did you mean "${best.o}"?)` : '';
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function valueAt(data: unknown, path: string[]): unknown {
  return path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), data);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `the text ${show(value)}`;
  return `${typeof value} ${show(value)}`;
}

const TYPE_WORDS: Record<string, string> = { string: 'text', integer: 'a whole number', number: 'a number', object: 'a map', array: 'a list', boolean: 'true or false', null: 'null' };

/**
 * Turns ajv's errors into one clear message per problem: the alternatives of a `oneOf` whose
 * value matched none are collapsed, and errors are placed on the offending key or value.
 */
export function schemaDiagnostics(errors: SchemaError[], src: YamlSource, data: unknown): Diagnostic[] {
  const out = new Map<string, Diagnostic>();
  const add = (path: string[], message: string, onKey: string | undefined = undefined) => {
    const { node, pair } = nodeAt(src.doc, onKey !== undefined ? [...path, onKey] : path);
    const offset = onKey !== undefined ? nodeOffset(pair) : (nodeOffset(node) ?? nodeOffset(pair));
    const fallback = nodeOffset(nodeAt(src.doc, path).node) ?? 0;
    const pos = posAt(src, offset ?? fallback);
    const key = `${pos.line}:${pos.col}:${message}`;
    if (!out.has(key)) out.set(key, { code: 'schema', message, pos });
  };

  const paths = errors.map((e) => segments(e.instancePath));
  const deeper = (path: string[]) => paths.some((p) => p.length > path.length && path.every((s, i) => p[i] === s));
  const typeErrors = new Map<string, Set<string>>();

  errors.forEach((e, i) => {
    const path = paths[i]!;
    const label = where(path) || 'the runbook';
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(e.params.additionalProperty);
        if (isStepPath(path)) {
          const hasType = stepTypeNames.some((t) => valueAt(data, [...path, t]) !== undefined);
          add(path, hasType ? `unknown step key "${key}"${suggest(key, Object.keys((e.parentSchema?.properties as Record<string, unknown> | undefined) ?? {}))}` : `unknown step type "${key}"${suggest(key, [...stepTypeNames])}; expected one of: ${stepTypeNames.join(', ')}`, key);
        } else {
          const allowed = Object.keys((e.parentSchema?.properties as Record<string, unknown> | undefined) ?? {});
          add(path, `unknown key "${key}" in ${label}${suggest(key, allowed)}; allowed: ${allowed.join(', ')}`, key);
        }
        return;
      }
      case 'oneOf': {
        const branches = (Array.isArray(e.schema) ? e.schema : []) as { required?: string[] }[];
        const isStepTypeChoice = isStepPath(path) && branches.length > 0 && branches.every((b) => b.required?.length === 1 && stepTypeNames.includes(b.required[0]!));
        // Two type keys: `env` beside another type is the common key, not a second type.
        if (isStepTypeChoice) {
          const present = stepTypeNames.filter((t) => t !== 'env' && valueAt(data, [...path, t]) !== undefined);
          if (present.length === 0 && valueAt(data, [...path, 'env']) !== undefined) present.push('env');
          if (present.length > 1) add(path, `step has ${present.length} type keys: ${present.join(' and ')} — a step has exactly one`, present[1]);
          else if (present.length === 0 && !errors.some((o, j) => j !== i && o.keyword === 'additionalProperties' && paths[j]!.join('/') === path.join('/'))) add(path, `step has no type key; expected one of: ${stepTypeNames.join(', ')}`);
          return;
        }
        const passing = e.params.passingSchemas;
        if (Array.isArray(passing)) {
          const keys = passing.flatMap((i: number) => branches[i]?.required ?? []);
          add(path, keys.length > 1 ? `${label} has both ${keys.map((k) => `"${k}"`).join(' and ')}; use only one` : `${label} matches more than one form`);
          return;
        }
        if (!deeper(path) && !errors.some((o, j) => j !== i && paths[j]!.join('/') === path.join('/') && o.keyword !== 'oneOf' && o.keyword !== 'type')) {
          const keys = branches.flatMap((b) => b.required ?? []);
          if (keys.length === branches.length && keys.length > 0) add(path, `${label} needs one of: ${keys.join(', ')}`);
        }
        return;
      }
      case 'type': {
        if (deeper(path) || errors.some((o, j) => j !== i && paths[j]!.join('/') === path.join('/') && !['type', 'oneOf', 'anyOf'].includes(o.keyword))) return;
        const k = path.join('/');
        const set = typeErrors.get(k) ?? new Set<string>();
        set.add(String(e.params.type));
        typeErrors.set(k, set);
        return;
      }
      case 'pattern': {
        const pattern = String(e.params.pattern);
        const value = valueAt(data, path);
        if (pattern === DURATION_PATTERN) add(path, `${label} must be a duration with a unit such as 500ms, 30s, 5m or 1h — got ${show(value)}`);
        else if (pattern.startsWith(SIZE_PATTERN)) add(path, `${label} must be a size with a unit such as 512MB or 5GB — got ${show(value)}`);
        else if (path[path.length - 1] === 'id' || path[path.length - 1] === 'name') add(path, `${label} must be lowercase letters, digits, ".", "_" or "-" — got ${show(value)}`);
        else add(path, `${label} has an invalid format: ${show(value)} (expected to match ${pattern})`);
        return;
      }
      case 'required':
        if (/\/(oneOf|anyOf)\/\d+\/required$/.test(e.schemaPath)) return;
        add(path, `${label === 'the runbook' ? 'the runbook' : label} is missing required key "${String(e.params.missingProperty)}"`);
        return;
      case 'minimum':
      case 'maximum': {
        const parent = e.parentSchema;
        const value = valueAt(data, path);
        if (typeof parent?.minimum === 'number' && typeof parent?.maximum === 'number') add(path, `${label} must be between ${parent.minimum} and ${parent.maximum}, got ${show(value)}`);
        else add(path, `${label} must be ${e.keyword === 'minimum' ? '≥' : '≤'} ${String(e.params.limit)}, got ${show(value)}`);
        return;
      }
      case 'enum':
        add(path, `${label} must be one of: ${(e.params.allowedValues as unknown[]).map((v) => String(v)).join(', ')} — got ${show(valueAt(data, path))}`);
        return;
      case 'const':
        add(path, `${label} must be ${show(e.params.allowedValue)}, got ${show(valueAt(data, path))}`);
        return;
      case 'minItems':
        add(path, `${label} must have at least ${String(e.params.limit)} item(s)`);
        return;
      case 'minLength':
        add(path, `${label} must not be empty`);
        return;
      case 'minProperties':
        add(path, `${label} must not be empty`);
        return;
      case 'uniqueItems':
        add(path, `${label} has duplicate items`);
        return;
      case 'propertyNames':
        return;
      default:
        add(path, `${label} ${e.message ?? 'is invalid'}`);
    }
  });

  for (const [k, types] of typeErrors) {
    const path = k === '' ? [] : k.split('/');
    const words = [...types].map((t) => TYPE_WORDS[t] ?? t);
    const expected = words.length === 1 ? words[0] : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
    const schemaHint = errors.find((e) => e.keyword === 'type' && segments(e.instancePath).join('/') === k && /\$defs\/duration/.test(e.schemaPath));
    const label = where(path) || 'the runbook';
    if (schemaHint) add(path, `${label} must be a duration with a unit such as 500ms, 30s, 5m or 1h — got ${typeName(valueAt(data, path))}`);
    else if (errors.some((e) => e.keyword === 'type' && segments(e.instancePath).join('/') === k && /\$defs\/size/.test(e.schemaPath)))
      add(path, `${label} must be a size with a unit such as 512MB or 5GB — got ${typeName(valueAt(data, path))}`);
    else add(path, `${label} must be ${expected}, got ${typeName(valueAt(data, path))}`);
  }
  return [...out.values()];
}
