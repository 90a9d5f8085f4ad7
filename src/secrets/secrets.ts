import { randomBytes, scryptSync } from 'node:crypto';
import type { ResolvedStep } from '../model/runbook.js';
import type { JournaledBytes } from '../steps/contract.js';
import { OPAQUE_KEYS, SECRET_FORMS } from './redact.js';

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

let runSalt: string | undefined;
const fingerprintCache = new Map<string, string>();

/**
 * A salted scrypt of a secret value (`scrypt:<salt>:<hash>`): lets rollback tell whether the
 * value it is about to write back is the one that was there, without keeping anything that
 * gives the value away. One salt per run (per process); scrypt so guessing is slow.
 */
export function secretFingerprint(value: string, salt = (runSalt ??= randomBytes(16).toString('base64'))): string {
  const key = `${salt}\0${value}`;
  let fingerprint = fingerprintCache.get(key);
  if (fingerprint === undefined) {
    fingerprint = `scrypt:${salt}:${scryptSync(value, Buffer.from(salt, 'base64'), 32).toString('base64')}`;
    fingerprintCache.set(key, fingerprint);
  }
  return fingerprint;
}

function isBytes(obj: Record<string, unknown>): obj is Record<string, unknown> & JournaledBytes {
  return typeof obj.base64 === 'string';
}

/** Cuts every secret value (in any of its forms) out of the bytes, recording where, which and how. */
function cutSecrets(bytes: JournaledBytes, secrets: SecretValues): JournaledBytes {
  const text = Buffer.from(bytes.base64, 'base64').toString('latin1');
  const needles = [...secrets].flatMap(([name, value]) =>
    Object.entries(SECRET_FORMS).map(([form, encode]) => ({ name, form, text: Buffer.from(encode(value), 'utf8').toString('latin1') })),
  );
  needles.sort((a, b) => b.text.length - a.text.length);
  let out = '';
  const secretsAt: [number, string, string][] = [];
  for (let i = 0; ; ) {
    let best: { at: number; needle: (typeof needles)[number] } | undefined;
    for (const needle of needles) {
      const at = text.indexOf(needle.text, i);
      if (at !== -1 && (best === undefined || at < best.at)) best = { at, needle };
    }
    if (!best) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, best.at);
    secretsAt.push([out.length, best.needle.name, best.needle.form]);
    i = best.at + best.needle.text.length;
  }
  if (secretsAt.length === 0) return bytes;
  const names = [...new Set(secretsAt.map(([, name]) => name))];
  return {
    base64: Buffer.from(out, 'latin1').toString('base64'),
    secretsAt,
    fingerprints: Object.fromEntries(names.map((name) => [name, secretFingerprint(secrets.get(name)!)])),
  };
}

/** Puts the current secret values back into cut bytes; lists unknown names and values that differ from the fingerprint. */
function fillBytes(bytes: JournaledBytes, secrets: SecretValues, missing: Set<string>): JournaledBytes {
  if (!bytes.secretsAt?.length) return bytes;
  const unknown = bytes.secretsAt.map(([, name]) => name).filter((name) => !secrets.has(name));
  if (unknown.length > 0) {
    unknown.forEach((name) => missing.add(name));
    return bytes;
  }
  const cut = Buffer.from(bytes.base64, 'base64').toString('latin1');
  let out = '';
  let from = 0;
  for (const [at, name, form] of bytes.secretsAt) {
    const encode = SECRET_FORMS[form] ?? SECRET_FORMS.raw!;
    out += cut.slice(from, at) + Buffer.from(encode(secrets.get(name)!), 'utf8').toString('latin1');
    from = at;
  }
  out += cut.slice(from);
  const rotated = Object.entries(bytes.fingerprints ?? {})
    .filter(([name, fingerprint]) => secretFingerprint(secrets.get(name)!, fingerprint.split(':')[1]) !== fingerprint)
    .map(([name]) => name);
  return { base64: Buffer.from(out, 'latin1').toString('base64'), ...(rotated.length ? { rotated } : {}) };
}

function mapStrings(value: unknown, fn: (s: string, key: string) => unknown, bytesFn: (b: JournaledBytes) => JournaledBytes, key = ''): unknown {
  if (typeof value === 'string') return OPAQUE_KEYS.has(key) ? value : fn(value, key);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn, bytesFn, key));
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (isBytes(obj)) return bytesFn(obj);
    // Base64 `content` written in a runbook step is decoded so a secret inside it is replaced too.
    if (obj.encoding === 'base64' && typeof obj.content === 'string') {
      const text = Buffer.from(obj.content, 'base64').toString('utf8');
      const back = Buffer.from(text, 'utf8').toString('base64');
      const replaced = fn(text, 'content');
      if (back === obj.content && replaced !== text) return { ...obj, content: replaced, encoding: 'utf8' };
    }
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, mapStrings(v, fn, bytesFn, k)]));
  }
  return value;
}

/**
 * Steps as journaled: every secret value in a string replaced by `{{secret:NAME}}`, and cut
 * out of journaled bytes (`{ base64 }`, e.g. a file's prior content) with its place recorded.
 */
export function protectSecrets(steps: ResolvedStep[], secrets: SecretValues): ResolvedStep[] {
  if (secrets.size === 0) return steps;
  const ordered = [...secrets].sort((a, b) => b[1].length - a[1].length);
  return mapStrings(
    steps,
    (s) => ordered.reduce((acc, [name, value]) => (acc.includes(value) ? acc.split(value).join(`{{secret:${name}}}`) : acc), s),
    (bytes) => cutSecrets(bytes, secrets),
  ) as ResolvedStep[];
}

/**
 * Fills `{{secret:NAME}}` placeholders and cut-out bytes back; names whose value is unknown
 * are returned. Journaled bytes whose secret now has another value than at apply time say so
 * in their `rotated` list (the step decides what to do about it).
 */
export function fillSecrets(step: ResolvedStep, secrets: SecretValues): { step: ResolvedStep; missing: string[] } {
  const missing = new Set<string>();
  const filled = mapStrings(
    step,
    (s) =>
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
    (bytes) => fillBytes(bytes, secrets, missing),
  ) as ResolvedStep;
  return { step: filled, missing: [...missing] };
}
