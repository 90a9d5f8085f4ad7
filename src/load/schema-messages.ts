import { GROUP_NAME_PATTERN, GROUP_NAME_WORDS, HOST_NAME_PATTERN, HOST_NAME_WORDS, PERCENT_PATTERN, PERCENT_WORDS } from '../model/hosts.js';
import { DURATION_PATTERN, SIZE_PATTERN } from '../model/units.js';
import type { SchemaError } from '../schema/validator.js';
import { stepTypeNames } from '../steps/registry.js';

/** One ajv error with its instance path split into keys. */
export interface Located {
  e: SchemaError;
  path: string[];
}

/** A message for the node at `path` (or, with `onKey`, for that key of the map at `path`). */
export interface Placed {
  path: string[];
  message: string;
  onKey?: string;
}

/** `changes[1].apply[0].run` — how a person names the place. */
export function where(path: string[]): string {
  return path.reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '') || 'the runbook';
}

export function isStepPath(path: string[]): boolean {
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

/** The option closest to a mistyped word, when it is close enough to be what was meant. */
export function closest(word: string, options: readonly string[]): string | undefined {
  const best = options.map((o) => ({ o, d: editDistance(word.toLowerCase(), o.toLowerCase()) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(1, Math.floor(word.length / 3)) ? best.o : undefined;
}

export function suggest(word: string, options: readonly string[]): string {
  const best = closest(word, options);
  return best ? ` (did you mean "${best}"?)` : '';
}

export function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

export function valueAt(data: unknown, path: string[]): unknown {
  return path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), data);
}

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `the text ${show(value)}`;
  return `${typeof value} ${show(value)}`;
}

const TYPE_WORDS: Record<string, string> = { string: 'text', integer: 'a whole number', number: 'a number', object: 'a map', array: 'a list', boolean: 'true or false', null: 'null' };

export function typeWords(types: string[]): string {
  const words = [...new Set(types.map((t) => TYPE_WORDS[t] ?? t))];
  return words.length === 1 ? words[0]! : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

/** What each pattern of the schema allows, in words (a test checks every pattern has some). */
export const PATTERN_WORDS: Record<string, string> = {
  [DURATION_PATTERN]: 'a duration with a unit such as 500ms, 30s, 5m or 1h',
  [`${DURATION_PATTERN}|\\{\\{`]: 'a duration with a unit such as 500ms, 30s, 5m or 1h (or a {{ var }} that holds one)',
  [`${SIZE_PATTERN}|\\{\\{`]: 'a size with a unit such as 512MB or 5GB',
  '^[a-z0-9][a-z0-9._-]*$': 'lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
  '^[A-Za-z_][A-Za-z0-9_-]*$': 'a variable name: letters, digits, "_" or "-", starting with a letter or "_"',
  '^[A-Za-z_][A-Za-z0-9_]*$': 'an environment variable name: letters, digits and "_", not starting with a digit',
  '^0?[0-7]{3,4}$': 'an octal file mode such as "0644" or "0755"',
  '^[A-Za-z0-9._-]+$': 'letters, digits, ".", "_" or "-" (no spaces)',
  '^\\s*(<=|>=|==|!=|<|>)\\s*\\d+\\s*$': 'a row count, or a comparison such as "> 0" or "<= 10"',
  [HOST_NAME_PATTERN]: HOST_NAME_WORDS,
  [GROUP_NAME_PATTERN]: GROUP_NAME_WORDS,
  [PERCENT_PATTERN]: PERCENT_WORDS,
};

function isDuration(e: SchemaError): boolean {
  return /\$defs\/(templatedD|d)uration/.test(e.schemaPath) || e.parentSchema?.pattern === DURATION_PATTERN;
}

function isSize(e: SchemaError): boolean {
  return /\$defs\/size/.test(e.schemaPath);
}

function items(count: number, path: string[]): string {
  const last = path[path.length - 1];
  const noun = last && ['apply', 'verify', 'rollback', 'preflight'].includes(last) ? 'step' : last === 'changes' ? 'change' : 'item';
  return count === 1 ? `at least one ${noun}` : `at least ${count} ${noun}s`;
}

/** The message for one ajv error outside any oneOf/anyOf, or undefined when another error says it. */
export function leafMessage({ e, path }: Located, data: unknown): Placed | undefined {
  const label = where(path);
  const value = valueAt(data, path);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(e.params.additionalProperty);
      const allowed = Object.keys((e.parentSchema?.properties as Record<string, unknown> | undefined) ?? {});
      if (isStepPath(path)) {
        const hasType = stepTypeNames.some((t) => valueAt(data, [...path, t]) !== undefined);
        const message = hasType ? `unknown step key "${key}"${suggest(key, allowed)}` : `unknown step type "${key}"${suggest(key, stepTypeNames)}; expected one of: ${stepTypeNames.join(', ')}`;
        return { path, message, onKey: key };
      }
      const extra = path.length === 0 ? '; keys starting with "x-" are free for YAML anchors' : '';
      return { path, message: `unknown key "${key}" in ${label}${suggest(key, allowed)}; allowed: ${allowed.join(', ')}${extra}`, onKey: key };
    }
    case 'type':
      if (isDuration(e)) return { path, message: `${label} must be ${PATTERN_WORDS[DURATION_PATTERN]} — got ${typeName(value)}` };
      if (isSize(e)) return { path, message: `${label} must be a size with a unit such as 512MB or 5GB — got ${typeName(value)}` };
      return { path, message: `${label} must be ${typeWords([String(e.params.type)])}, got ${typeName(value)}` };
    case 'pattern': {
      const words = PATTERN_WORDS[String(e.params.pattern)];
      return { path, message: words ? `${label} must be ${words} — got ${show(value)}` : `${label} has an invalid format: ${show(value)}` };
    }
    case 'propertyNames': {
      const key = String(e.params.propertyName);
      const words = PATTERN_WORDS[String((e.schema as { pattern?: string } | undefined)?.pattern)] ?? 'a valid name';
      return { path, message: `${JSON.stringify(key)} in ${label} must be ${words}`, onKey: key };
    }
    case 'required':
      return { path, message: `${label} is missing required key "${String(e.params.missingProperty)}"` };
    case 'minimum':
    case 'maximum': {
      const parent = e.parentSchema;
      if (typeof parent?.minimum === 'number' && typeof parent?.maximum === 'number') return { path, message: `${label} must be between ${parent.minimum} and ${parent.maximum}, got ${show(value)}` };
      return { path, message: `${label} must be ${e.keyword === 'minimum' ? 'at least' : 'at most'} ${String(e.params.limit)}, got ${show(value)}` };
    }
    case 'enum':
      return { path, message: `${label} must be one of: ${(e.params.allowedValues as unknown[]).map((v) => String(v)).join(', ')} — got ${show(value)}` };
    case 'const':
      return { path, message: `${label} must be ${show(e.params.allowedValue)}, got ${show(value)}` };
    case 'minItems':
      return { path, message: `${label} must list ${items(Number(e.params.limit), path)}` };
    case 'minLength':
      return { path, message: `${label} must not be empty` };
    case 'minProperties': {
      const keys = Object.keys((e.parentSchema?.properties as Record<string, unknown> | undefined) ?? {});
      return { path, message: keys.length ? `${label} needs one of: ${keys.join(', ')}` : `${label} must not be empty` };
    }
    case 'uniqueItems':
      return { path, message: `${label} lists the same item twice (items ${Number(e.params.j) + 1} and ${Number(e.params.i) + 1})` };
    case 'if':
      return undefined;
    default:
      return { path, message: `${label} ${e.message ?? 'is invalid'}` };
  }
}
