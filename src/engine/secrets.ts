import type { ResolvedStep } from '../model/runbook.js';

const PLACEHOLDER = /\{\{secret:([A-Za-z_][A-Za-z0-9_-]*)\}\}/g;

export type SecretValues = Map<string, string>;

/** Secret name → value, from effective vars first, then the environment. */
export function secretValues(names: string[], vars: Record<string, unknown>, env: NodeJS.ProcessEnv): SecretValues {
  const values: SecretValues = new Map();
  for (const name of names) {
    const value = name in vars ? String(vars[name] ?? '') : env[name];
    if (value !== undefined && value.length >= 3) values.set(name, value);
  }
  return values;
}

function mapStrings(value: unknown, fn: (s: string, key: string) => unknown, key = ''): unknown {
  if (typeof value === 'string') return fn(value, key);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn, key));
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    // Base64 file snapshots are decoded so a secret inside them is replaced too.
    if (obj.encoding === 'base64' && typeof obj.content === 'string') {
      const text = Buffer.from(obj.content, 'base64').toString('utf8');
      const back = Buffer.from(text, 'utf8').toString('base64');
      const replaced = fn(text, 'content');
      if (back === obj.content && replaced !== text) return { ...obj, content: replaced, encoding: 'utf8' };
    }
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, mapStrings(v, fn, k)]));
  }
  return value;
}

/** Steps as journaled: every secret value replaced by `{{secret:NAME}}`. */
export function protectSecrets(steps: ResolvedStep[], secrets: SecretValues): ResolvedStep[] {
  if (secrets.size === 0) return steps;
  const ordered = [...secrets].sort((a, b) => b[1].length - a[1].length);
  return mapStrings(steps, (s) => ordered.reduce((acc, [name, value]) => (acc.includes(value) ? acc.split(value).join(`{{secret:${name}}}`) : acc), s)) as ResolvedStep[];
}

/** Fills `{{secret:NAME}}` placeholders back; names whose value is unknown are returned. */
export function fillSecrets(step: ResolvedStep, secrets: SecretValues): { step: ResolvedStep; missing: string[] } {
  const missing = new Set<string>();
  const filled = mapStrings(step, (s) =>
    s.includes('{{secret:')
      ? s.replace(PLACEHOLDER, (whole, name: string) => {
          const value = secrets.get(name);
          if (value === undefined) {
            missing.add(name);
            return whole;
          }
          return value;
        })
      : s,
  ) as ResolvedStep;
  return { step: filled, missing: [...missing] };
}
