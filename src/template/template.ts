/**
 * `{{ expr }}` templates over vars, `env.X` and `name`: parsing and value lookup. Where a
 * value goes (a shell command, SQL, a URL) decides how it is filled: see `fill.ts`.
 *
 * `{{ "text" }}` (or `{{ 'text' }}`) inserts `text` as written — the way to write a literal
 * `{{`, e.g. `docker inspect -f '{{ "{{.State.Status}}" }}' api`.
 */

export type TemplateFilter = 'raw' | 'ident';

export interface TemplateRef {
  kind: 'ref';
  /** Expression as written, trimmed, without filters: `project_dir`, `env.HOME`, `db.host`. */
  expr: string;
  filter?: TemplateFilter;
  /** The whole `{{ … }}` as written, for messages. */
  source: string;
  /** Offset of `{{` in the string. */
  offset: number;
  /** Length of the whole `{{ … }}`. */
  length: number;
}

/** `{{ "text" }}` or `{{ 'text' }}`: text inserted as written, never a value. */
export interface TemplateLiteral {
  kind: 'literal';
  text: string;
  offset: number;
  length: number;
}

export type TemplatePart = { kind: 'text'; text: string } | TemplateRef | TemplateLiteral;

export interface TemplateSyntaxProblem {
  message: string;
  offset: number;
}

const EXPR = /^(?:env\.[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)$/;
const FILTERS: readonly string[] = ['raw', 'ident'];
export const LITERAL_HINT = `to write a literal "{{", use {{ "{{" }} (or {{ '{{' }})`;
const UNCLOSED = `unclosed "{{" (templates look like {{ name }}; ${LITERAL_HINT})`;

export function hasTemplate(text: string): boolean {
  return text.includes('{{');
}

function skipBlanks(text: string, i: number): number {
  while (text[i] === ' ' || text[i] === '\t') i++;
  return i;
}

/** `{{ "…" }}` or `{{ '…' }}` starting at `start`, or undefined when it is not one. */
function literalAt(text: string, start: number): TemplateLiteral | undefined {
  const open = skipBlanks(text, start + 2);
  const quote = text[open];
  if (quote !== '"' && quote !== "'") return undefined;
  const close = text.indexOf(quote, open + 1);
  if (close === -1) return undefined;
  const end = skipBlanks(text, close + 1);
  if (!text.startsWith('}}', end)) return undefined;
  return { kind: 'literal', text: text.slice(open + 1, close), offset: start, length: end + 2 - start };
}

/** The text split into plain text, `{{ }}` references and `{{ "…" }}` literals, with every syntax problem. */
export function parseTemplate(text: string): { parts: TemplatePart[]; refs: TemplateRef[]; problems: TemplateSyntaxProblem[] } {
  const parts: TemplatePart[] = [];
  const refs: TemplateRef[] = [];
  const problems: TemplateSyntaxProblem[] = [];
  let last = 0;
  const pushText = (until: number) => {
    if (until > last) parts.push({ kind: 'text', text: text.slice(last, until) });
  };
  let at = text.indexOf('{{');
  while (at !== -1) {
    // `{{{ x }}}`: the template is the inner `{{ x }}`.
    while (text[at + 2] === '{' && text[at + 3] === '{') at++;
    const literal = literalAt(text, at);
    if (literal) {
      pushText(at);
      parts.push(literal);
      last = at + literal.length;
      at = text.indexOf('{{', last);
      continue;
    }
    const close = text.indexOf('}}', at + 2);
    const nextOpen = text.indexOf('{{', at + 2);
    if (close === -1 || (nextOpen !== -1 && nextOpen < close)) {
      problems.push({ message: UNCLOSED, offset: at });
      at = nextOpen;
      continue;
    }
    const inner = text.slice(at + 2, close);
    const source = text.slice(at, close + 2);
    const [exprPart, ...filters] = inner.split('|').map((s) => s.trim());
    const expr = exprPart ?? '';
    if (!EXPR.test(expr)) {
      problems.push({ message: `"${source}" is not a valid template: expected a variable name such as {{ project_dir }} or {{ env.HOME }}; ${LITERAL_HINT} (e.g. {{ "${source}" }})`, offset: at });
    } else if (filters.some((f) => !FILTERS.includes(f)) || filters.length > 1) {
      const unknown = filters.find((f) => !FILTERS.includes(f));
      problems.push({ message: unknown !== undefined ? `unknown template filter "${unknown}" (the filters are "raw" and, in SQL, "ident")` : `a template takes one filter, found ${filters.join(' | ')}`, offset: at });
    } else {
      pushText(at);
      const ref: TemplateRef = { kind: 'ref', expr, filter: filters[0] as TemplateFilter | undefined, source, offset: at, length: close + 2 - at };
      parts.push(ref);
      refs.push(ref);
      last = close + 2;
    }
    at = text.indexOf('{{', close + 2);
  }
  pushText(text.length);
  return { parts, refs, problems };
}

export interface TemplateScope {
  vars: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  name: string;
}

export type LookupResult = { found: true; value: string } | { found: false; reason: string };

export function lookup(expr: string, scope: TemplateScope): LookupResult {
  if (expr.startsWith('env.')) {
    const key = expr.slice(4);
    const value = scope.env[key];
    return value === undefined ? { found: false, reason: `environment variable ${key} is not set` } : { found: true, value };
  }
  if (expr === 'name') return { found: true, value: scope.name };
  let current: unknown = scope.vars;
  for (const part of expr.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, part)) {
      return { found: false, reason: `unknown variable "${expr}"` };
    }
    current = (current as Record<string, unknown>)[part];
  }
  return { found: true, value: stringify(current) };
}

function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export class TemplateLookupError extends Error {
  readonly expr: string;
  constructor(expr: string, reason: string) {
    super(reason);
    this.name = 'TemplateLookupError';
    this.expr = expr;
  }
}

/**
 * Fills every template in `text` with its value as is: for text that is not a command, SQL
 * or a URL (file contents, paths, names). `onMissing` decides what an unset value becomes
 * (default: throw).
 */
export function render(text: string, scope: TemplateScope, onMissing?: (expr: string, reason: string) => string): string {
  if (!hasTemplate(text)) return text;
  let out = '';
  for (const part of parseTemplate(text).parts) {
    if (part.kind !== 'ref') {
      out += part.text;
      continue;
    }
    const result = lookup(part.expr, scope);
    if (result.found) out += result.value;
    else if (onMissing) out += onMissing(part.expr, result.reason);
    else throw new TemplateLookupError(part.expr, result.reason);
  }
  return out;
}
