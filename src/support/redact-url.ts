/**
 * Masks URL passwords: `postgres://user:secret@host` → `postgres://user:***@host`. The mask runs
 * to the last `@` of the URL, as URL parsers do, so a password holding an unencoded `@` is
 * hidden whole.
 */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^\s]*@/gi;
const QUERY_PASSWORD = /([?&](?:ssl)?password=)[^&\s]*/gi;

export function redactUrl(text: string): string {
  return text.includes('://') ? text.replace(URL_PASSWORD, '$1***@').replace(QUERY_PASSWORD, '$1***') : text;
}
