/**
 * `{{ expr }}` templates over vars, `env.X` and `name`. A value interpolated into a shell
 * string is quoted for the shell context it lands in (unquoted, inside '…' or inside "…"),
 * so a variable can never inject a command; `{{ expr | raw }}` opts out explicitly.
 */

export interface TemplateRef {
  /** Expression as written, trimmed, without filters: `project_dir`, `env.HOME`, `db.host`. */
  expr: string;
  raw: boolean;
  /** Offset of `{{` in the string. */
  offset: number;
  /** Length of the whole `{{ … }}`. */
  length: number;
}

export interface TemplateSyntaxProblem {
  message: string;
  offset: number;
}

const TEMPLATE = /\{\{([^{}]*)\}\}/g;
const EXPR = /^(?:env\.[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)$/;

export function hasTemplate(text: string): boolean {
  return text.includes('{{');
}

/** Every `{{ }}` in `text`, or the first syntax problem. */
export function parseTemplateRefs(text: string): { refs: TemplateRef[]; problems: TemplateSyntaxProblem[] } {
  const refs: TemplateRef[] = [];
  const problems: TemplateSyntaxProblem[] = [];
  if (!hasTemplate(text)) return { refs, problems };
  let covered = 0;
  for (const m of text.matchAll(TEMPLATE)) {
    const offset = m.index;
    const unclosed = text.indexOf('{{', covered);
    if (unclosed !== -1 && unclosed < offset) problems.push({ message: 'unclosed "{{" (templates look like {{ name }})', offset: unclosed });
    covered = offset + m[0].length;
    const inner = (m[1] ?? '').trim();
    const [exprPart, ...filters] = inner.split('|').map((s) => s.trim());
    const expr = exprPart ?? '';
    if (!EXPR.test(expr)) {
      problems.push({ message: `"{{${m[1]}}}" is not a valid template: expected a variable name such as {{ project_dir }} or {{ env.HOME }}`, offset });
      continue;
    }
    const unknownFilter = filters.find((f) => f !== 'raw');
    if (unknownFilter !== undefined) {
      problems.push({ message: `unknown template filter "${unknownFilter}" (the only filter is "raw")`, offset });
      continue;
    }
    refs.push({ expr, raw: filters.includes('raw'), offset, length: m[0].length });
  }
  const rest = text.indexOf('{{', covered);
  if (rest !== -1) problems.push({ message: 'unclosed "{{" (templates look like {{ name }})', offset: rest });
  return { refs, problems };
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

export type RenderMode = 'text' | 'shell';

export class TemplateLookupError extends Error {
  readonly expr: string;
  constructor(expr: string, reason: string) {
    super(reason);
    this.name = 'TemplateLookupError';
    this.expr = expr;
  }
}

/**
 * Fills every template in `text`. In `shell` mode each value is quoted for the quoting
 * context at its position. `onMissing` decides what an unset value becomes (default: throw).
 */
export function render(
  text: string,
  scope: TemplateScope,
  mode: RenderMode,
  onMissing?: (expr: string, reason: string) => string,
): string {
  if (!hasTemplate(text)) return text;
  const { refs } = parseTemplateRefs(text);
  let out = '';
  let last = 0;
  for (const ref of refs) {
    out += text.slice(last, ref.offset);
    const result = lookup(ref.expr, scope);
    let value: string;
    if (result.found) value = result.value;
    else if (onMissing) value = onMissing(ref.expr, result.reason);
    else throw new TemplateLookupError(ref.expr, result.reason);
    out += mode === 'shell' && !ref.raw ? quoteForShell(value, shellContextAt(text, ref.offset)) : value;
    last = ref.offset + ref.length;
  }
  return out + text.slice(last);
}

type ShellContext = 'bare' | 'single' | 'double';

/** The POSIX shell quoting state at `offset` of a command string. */
export function shellContextAt(command: string, offset: number): ShellContext {
  let state: ShellContext = 'bare';
  for (let i = 0; i < offset; i++) {
    const ch = command[i];
    if (state === 'single') {
      if (ch === "'") state = 'bare';
    } else if (ch === '\\') {
      i++;
    } else if (state === 'double') {
      if (ch === '"') state = 'bare';
    } else if (ch === "'") {
      state = 'single';
    } else if (ch === '"') {
      state = 'double';
    }
  }
  return state;
}

const SHELL_SAFE = /^[A-Za-z0-9_/.:=@%+,-]+$/;

export function quoteForShell(value: string, context: ShellContext): string {
  switch (context) {
    case 'single':
      return value.replaceAll("'", `'\\''`);
    case 'double':
      return value.replace(/[\\"$`]/g, (c) => `\\${c}`);
    case 'bare':
      return SHELL_SAFE.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
  }
}
