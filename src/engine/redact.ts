import { redactUrl } from '../steps/redact-url.js';
import { quoteForShell } from './shell-quote.js';

export type Redactor = (text: string) => string;

/**
 * Replaces every secret value (also as it appears shell-quoted, URL-encoded or as a SQL literal) with `***`,
 * and masks the password of any URL.
 */
export function createRedactor(secretValues: string[]): Redactor {
  const forms = new Set<string>();
  for (const value of secretValues) {
    if (value.length < 3) continue;
    forms.add(value);
    forms.add(quoteForShell(value, 'bare'));
    forms.add(quoteForShell(value, 'double'));
    forms.add(quoteForShell(value, 'single'));
    forms.add(encodeURIComponent(value));
    // As a SQL literal (postgres exec): quotes and backslashes doubled.
    forms.add(value.replaceAll("'", "''"));
    forms.add(value.replaceAll("'", "''").replaceAll('\\', '\\\\'));
  }
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  return (text: string) => {
    let out = text;
    for (const form of ordered) if (out.includes(form)) out = out.split(form).join('***');
    return redactUrl(out);
  };
}

/** Redacts every string inside a JSON-like value. */
export function redactDeep<T>(value: T, redact: Redactor): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact)) as T;
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, redact)])) as T;
  return value;
}

