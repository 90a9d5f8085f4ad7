import { redactUrl } from '../support/redact-url.js';
import { quoteForShell } from '../support/shell-quote.js';

export type Redactor = (text: string) => string;

/** Output that arrives in pieces: `push` returns what is safe to show now, `end` the rest. */
export interface OutputRedactor {
  push(chunk: string): string;
  end(): string;
}

/** A redactor that can also follow a stream of output (`stream()`: one per step's output). */
export type SecretRedactor = Redactor & { stream(): OutputRedactor };

/** How a secret value may appear in text: as is, shell-quoted, URL-encoded, as a SQL literal. */
export const SECRET_FORMS: Record<string, (value: string) => string> = {
  raw: (v) => v,
  shell: (v) => quoteForShell(v, 'bare'),
  'shell-double': (v) => quoteForShell(v, 'double'),
  'shell-single': (v) => quoteForShell(v, 'single'),
  url: (v) => encodeURIComponent(v),
  // As a SQL literal (postgres exec): quotes doubled, and with backslashes doubled for E''.
  sql: (v) => v.replaceAll("'", "''"),
  'sql-escaped': (v) => v.replaceAll("'", "''").replaceAll('\\', '\\\\'),
};

/** Every distinct form of each value, longest first (so a longer form is masked whole). */
export function secretForms(secretValues: Iterable<string>): string[] {
  const forms = new Set<string>();
  for (const value of secretValues) {
    if (value.length < 3) continue;
    for (const form of Object.values(SECRET_FORMS)) forms.add(form(value));
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

/** Longest trailing word held back because it may still become a URL with a password (held until it ends). */
const MAX_HELD_WORD = 2048;

/**
 * Where `text` can be cut so that everything before the cut can be redacted on its own: not
 * inside a secret (nor a prefix of one at the end) and not inside a trailing word that may be
 * an unfinished URL or query string.
 */
function safeCut(text: string, forms: string[]): number {
  let cut = text.length;
  const longest = forms[0]?.length ?? 0;
  for (let p = Math.max(0, text.length - longest + 1); p < text.length; p++) {
    const rest = text.slice(p);
    if (forms.some((f) => f.length > rest.length && f.startsWith(rest))) {
      cut = p;
      break;
    }
  }
  let start = text.length;
  while (start > 0 && text.length - start <= MAX_HELD_WORD && !/\s/.test(text[start - 1]!)) start--;
  const word = text.slice(start);
  // `scheme://user:pass@` and `?password=` are masked only once whole: hold a word that may become one.
  if (text.length - start <= MAX_HELD_WORD && /[:?&]/.test(word)) cut = Math.min(cut, start);
  // A whole secret that straddles the cut is held back with it.
  for (let moved = true; moved; ) {
    moved = false;
    for (const f of forms) {
      for (let s = text.indexOf(f, Math.max(0, cut - f.length + 1)); s !== -1 && s < cut; s = text.indexOf(f, s + 1)) {
        if (s + f.length > cut) {
          cut = s;
          moved = true;
          break;
        }
      }
    }
  }
  return cut;
}

/**
 * Replaces every secret value (also as it appears shell-quoted, URL-encoded or as a SQL literal) with `***`,
 * and masks the password of any URL. `stream()` does the same for output that arrives in
 * chunks: a secret split across two chunks is held back until it is whole.
 */
export function createRedactor(secretValues: string[]): SecretRedactor {
  const ordered = secretForms(secretValues);
  const redact = (text: string) => {
    let out = text;
    for (const form of ordered) if (out.includes(form)) out = out.split(form).join('***');
    return redactUrl(out);
  };
  const stream = (): OutputRedactor => {
    let held = '';
    return {
      push(chunk) {
        const text = held + chunk;
        const cut = safeCut(text, ordered);
        held = text.slice(cut);
        return cut === 0 ? '' : redact(text.slice(0, cut));
      },
      end() {
        const rest = held;
        held = '';
        return rest === '' ? '' : redact(rest);
      },
    };
  };
  return Object.assign(redact, { stream });
}

/**
 * Keys whose values are opaque encodings we produce (base64 with the secrets already cut out,
 * hex hashes, snapshot digests, salted fingerprints): a short secret may occur in them by chance, and masking
 * it there would corrupt the data without hiding anything.
 */
export const OPAQUE_KEYS = new Set(['base64', 'snapshot', 'wasSha256', 'leftSha256', 'fingerprints']);

/** Redacts every string inside a JSON-like value. */
export function redactDeep<T>(value: T, redact: Redactor): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, OPAQUE_KEYS.has(k) ? v : redactDeep(v, redact)])) as T;
  }
  return value;
}
