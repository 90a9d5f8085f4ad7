import { quoteForShell } from '../../support/shell-quote.js';

/** One word for a POSIX shell: always single-quoted, so nothing in it is expanded or executed. */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new Error('a NUL byte cannot be passed to a shell');
  return `'${quoteForShell(value, 'single')}'`;
}

/** A valid environment variable name (the only names exported on a host). */
export function isEnvName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}
