/**
 * Filling templates into the place they land, so a value can never become code there:
 *
 * - `shell` (a bash command the step runs): the value is never put in the command. It goes to
 *   the child in an environment variable (RUNBOOK_V1, …) and the command refers to it:
 *   `"${RUNBOOK_V1}"` outside quotes (also inside `$( )` and backticks), `${RUNBOOK_V1}` inside
 *   "…" and unquoted heredocs. The shell never parses an expansion's result again, so even a
 *   place read wrongly can only split the value into words.
 * - `cron` (a command cron runs later, where our environment is gone): quoted for its place.
 * - `sql` (a postgres query): a bind parameter `$n`, after any explicit `params`.
 * - `sql-script` (postgres exec, several statements, no parameters): a quoted SQL literal,
 *   exactly as pg's escapeLiteral; `| ident` quotes an identifier (escapeIdentifier).
 * - `http-url` / `pg-url`: a template that starts the URL is its base and must be one; every
 *   later value is percent-encoded.
 *
 * Templates where none of this can work (inside '…', a SQL string literal, a nested shell's
 * program…) are errors, found when the runbook is loaded (fieldProblems) with their position.
 * Each field is filled twice: `exec`, what runs, and `shown`, what people read (values
 * quoted, secrets as ***).
 */
import type { TemplateField } from '../steps/contract.js';
import { quoteForShell } from '../support/shell-quote.js';
import { shellSlots, type ShellProblem } from './shell-slots.js';
import { sqlSlots, type SqlProblem } from './sql-slots.js';
import { lookup, parseTemplate, TemplateLookupError, type TemplateRef, type TemplateScope } from './template.js';

/** Environment variables that carry template values into a step's shell. */
export const VALUE_ENV = /^RUNBOOK_V\d+$/;

/** What one step's fields bind: environment variables for its shell, parameters for its query. */
export class StepBindings {
  readonly env: Record<string, string> = {};
  readonly params: string[] = [];
  private readonly envByExpr = new Map<string, string>();
  private readonly paramByExpr = new Map<string, number>();

  /** `explicitParams`: how many `params` the step already has ($1…$k). */
  constructor(private readonly explicitParams = 0) {}

  envVar(expr: string, value: string): string {
    let name = this.envByExpr.get(expr);
    if (name === undefined) {
      name = `RUNBOOK_V${this.envByExpr.size + 1}`;
      this.envByExpr.set(expr, name);
      this.env[name] = value;
    }
    return name;
  }

  param(expr: string, value: string): number {
    let n = this.paramByExpr.get(expr);
    if (n === undefined) {
      this.params.push(value);
      n = this.explicitParams + this.params.length;
      this.paramByExpr.set(expr, n);
    }
    return n;
  }
}

export interface FillContext {
  scope: TemplateScope;
  /** What an unset value becomes (plan shows `${X}` for an unset env.X); default: throw. */
  onMissing?: (expr: string, reason: string) => string;
  /** The template names a secret: shown as ***. */
  isSecret(expr: string): boolean;
  bindings: StepBindings;
}

export interface Filled {
  exec: string;
  shown: string;
}

/** A template placed where its value cannot be passed safely; the message says what to do. */
export class TemplatePlacementError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplatePlacementError';
  }
}

export function escapeLiteral(value: string): string {
  let hasBackslash = false;
  let escaped = "'";
  for (const c of value) {
    if (c === "'") escaped += "''";
    else if (c === '\\') {
      escaped += '\\\\';
      hasBackslash = true;
    } else escaped += c;
  }
  escaped += "'";
  return hasBackslash ? ` E${escaped}` : escaped;
}

export function escapeIdentifier(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

const RAW_HINT = (ref: TemplateRef) => `{{ ${ref.expr} | raw }} inserts the text unchecked`;

/** "pass it with the step's env: … and write "$DIR"" for {{ dir }}. */
function envHint(ref: TemplateRef): string {
  if (ref.expr.startsWith('env.')) return `it is already in the environment: write "$${ref.expr.slice(4)}" there`;
  const name = ref.expr.replace(/[^A-Za-z0-9_]/g, '_').toUpperCase();
  return `pass it with the step's env: (env: { ${name}: "{{ ${ref.expr} }}" }) and write "$${name}" there`;
}

function shellMessage(ref: TemplateRef, problem: ShellProblem): string {
  const t = ref.source;
  switch (problem) {
    case 'single-quotes':
    case 'ansi-quotes':
      return `${t} is inside ${problem === 'single-quotes' ? "'…'" : "$'…'"}, where the shell expands nothing: write it outside the quotes (its value is quoted for you), or, for a nested shell (bash -c '…'), ${envHint(ref)}; ${RAW_HINT(ref)}`;
    case 'quoted-heredoc':
      return `${t} is in a heredoc with a quoted delimiter (<<'EOF'), where the shell expands nothing: use an unquoted delimiter (<<EOF), where the value is filled in safely; ${RAW_HINT(ref)}`;
    case 'heredoc-program':
      return `${t} is in a heredoc or here-string that a shell, ssh or another interpreter (psql, python, …) reads as its program, where the value would be code: ${envHint(ref)}, or use a postgres step for SQL`;
    case 'nested-shell':
      return `${t} is in the program text of a nested shell (bash -c "…", su -c, watch), which parses the value again as code: ${envHint(ref)}`;
    case 'nested-program':
      return `${t} is in the program text of an interpreter (python -c, perl -e, node -e, …), which would run the value as code: ${envHint(ref)} and read it from the environment`;
    case 'sql-client':
      return `${t} is in SQL given to psql -c or mysql -e, where the value would be SQL: use a postgres step, where values become bind parameters or quoted literals`;
    case 'eval':
      return `${t} is an argument of eval, which parses the value again as code: ${envHint(ref)}`;
    case 'trap':
      return `${t} is in a trap action, which the shell parses again when the trap fires: ${envHint(ref)}`;
    case 'ssh':
      return `${t} is part of the command ssh runs remotely, where a shell parses it again as code (and the environment does not follow): quote it for the remote shell yourself and use {{ ${ref.expr} | raw }}, or send it on ssh's standard input`;
    case 'sed':
      return `${t} is in a sed script, where a value's characters are commands (/ & \\ and newlines; the e and w flags run commands and write files): change the file with a file step (replace or line) instead; ${RAW_HINT(ref)}`;
    case 'awk':
      return `${t} is in an awk program, which would run the value as awk code: pass it as a variable (awk -v v=${t} '… v …') instead`;
    case 'arithmetic':
      return `${t} is in an arithmetic context ($(( )), (( )), let, [[ … -eq … ]], an array index), where bash evaluates the value as an expression (a value like a[$(cmd)] runs cmd): compare with test ([ ${t} -eq 1 ]), or check it is a number first (n=${t}; [[ $n =~ ^[0-9]+$ ]] || exit 1) and use $n`;
    case 'variable-name':
      return `${t} is used as a variable name here (declare, local, unset, read, printf -v, -v tests, \${!…}), and bash evaluates a name such as a[$(cmd)]: use a fixed name and put the value in it (name=${t})`;
    case 'after-backslash':
      return `${t} follows a backslash: remove the backslash (the value is quoted for you)`;
  }
}

function sqlMessage(ref: TemplateRef, problem: SqlProblem, field: 'sql' | 'sql-script'): string {
  const t = ref.source;
  switch (problem) {
    case 'string':
      return field === 'sql'
        ? `${t} is inside a SQL string literal: don't quote it — it is passed as a bind parameter: write ${t} without the quotes`
        : `${t} is inside a SQL string literal: don't quote it — it is inserted as a quoted SQL literal for you: write ${t} without the quotes`;
    case 'identifier':
      return `${t} is inside a quoted identifier ("…"): write {{ ${ref.expr} | ident }} without the quotes`;
    case 'dollar-quoted':
      return `${t} is inside a dollar-quoted string ($$…$$), where neither a parameter nor a quoted literal can go; ${RAW_HINT(ref)}`;
    case 'comment':
      return `${t} is inside a SQL comment: take it out of the comment`;
  }
}

const IDENT_OUTSIDE_SQL = (ref: TemplateRef) => `${ref.source}: | ident quotes a SQL identifier, for a postgres query or exec only`;
const isSql = (field: TemplateField | undefined): field is 'sql' | 'sql-script' => field === 'sql' || field === 'sql-script';

/**
 * Problems with where the templates of `text` sit, for the loader (offsets into `text`).
 * `| raw` values are unknown here; they are checked again, with their text, when resolved.
 */
export function fieldProblems(text: string, field: TemplateField | undefined): { message: string; offset: number }[] {
  const { parts } = parseTemplate(text);
  const problems: { message: string; offset: number }[] = [];
  for (const p of parts) if (p.kind === 'ref' && p.filter === 'ident' && !isSql(field)) problems.push({ message: IDENT_OUTSIDE_SQL(p), offset: p.offset });
  const placed = parts.filter((p): p is TemplateRef => p.kind === 'ref' && p.filter !== 'raw');
  if (field === 'shell' || field === 'cron') {
    const slots = shellSlots(parts.map((p) => (p.kind === 'ref' ? (p.filter === 'raw' ? 'RAW' : null) : p.text)));
    slots.forEach((s, k) => {
      if (!s.ok) problems.push({ message: shellMessage(placed[k]!, s.problem), offset: placed[k]!.offset });
    });
  } else if (isSql(field)) {
    const slots = sqlSlots(parts.map((p) => (p.kind === 'ref' ? (p.filter === 'raw' ? 'RAW' : null) : p.text)));
    slots.forEach((s, k) => {
      if (!s.ok) problems.push({ message: sqlMessage(placed[k]!, s.problem, field), offset: placed[k]!.offset });
    });
  }
  return problems;
}

const URL_BASES: Record<'http-url' | 'pg-url', { protocols: string[]; example: string }> = {
  'http-url': { protocols: ['http:', 'https:'], example: 'http://127.0.0.1:9191' },
  'pg-url': { protocols: ['postgres:', 'postgresql:'], example: 'postgres://user@127.0.0.1:5432/db' },
};

function isUrlBase(value: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** Fills the templates of one string param, for the place `field` says it goes (plain text when undefined). */
export function fillField(text: string, field: TemplateField | undefined, ctx: FillContext): Filled {
  // Text without a template goes in as it is, whatever the field (what the scans below would make of it).
  if (!text.includes('{{')) return { exec: text, shown: text };
  const { parts } = parseTemplate(text);
  const values = new Map<TemplateRef, { value: string; missing: boolean }>();
  for (const p of parts) {
    if (p.kind !== 'ref') continue;
    const found = lookup(p.expr, ctx.scope);
    if (found.found) values.set(p, { value: found.value, missing: false });
    else if (ctx.onMissing) values.set(p, { value: ctx.onMissing(p.expr, found.reason), missing: true });
    else throw new TemplateLookupError(p.expr, found.reason);
    if (p.filter === 'ident' && !isSql(field)) throw new TemplatePlacementError(IDENT_OUTSIDE_SQL(p));
  }
  const value = (ref: TemplateRef) => values.get(ref)!.value;
  const shownValue = (ref: TemplateRef, quoted: string) => (ctx.isSecret(ref.expr) ? '***' : values.get(ref)!.missing ? value(ref) : quoted);
  const piece = (p: (typeof parts)[number]) => (p.kind === 'ref' ? (p.filter === 'raw' ? value(p) : null) : p.text);

  let exec = '';
  let shown = '';
  /** Literal text and `| raw` values go in as they are (a secret's value still shown as ***). */
  const appendAsIs = (p: (typeof parts)[number]) => {
    const literal = p.kind === 'ref' ? value(p) : p.text;
    exec += literal;
    shown += p.kind === 'ref' && ctx.isSecret(p.expr) ? '***' : literal;
  };
  /** Each reference not filtered `| raw` goes in through `put`, at the slot the scan found for it; a slot it cannot take is an error. */
  const fillSlots = <S extends { ok: boolean }>(slots: S[], problem: (p: TemplateRef, slot: Extract<S, { ok: false }>) => string, put: (p: TemplateRef, slot: Extract<S, { ok: true }>) => void): Filled => {
    let k = 0;
    for (const p of parts) {
      if (p.kind !== 'ref' || p.filter === 'raw') {
        appendAsIs(p);
        continue;
      }
      const slot = slots[k++]!;
      if (!slot.ok) throw new TemplatePlacementError(`${problem(p, slot as Extract<S, { ok: false }>)} (after the | raw values were inserted)`);
      put(p, slot as Extract<S, { ok: true }>);
    }
    return { exec, shown };
  };
  if (field === 'shell' || field === 'cron') {
    return fillSlots(
      shellSlots(parts.map(piece)),
      (p, slot) => shellMessage(p, slot.problem),
      (p, slot) => {
        const quoted = quoteForShell(value(p), slot.context);
        if (field === 'cron') exec += quoted.replaceAll('%', '\\%');
        else {
          const name = ctx.bindings.envVar(p.expr, value(p));
          exec += slot.context === 'bare' ? `"\${${name}}"` : `\${${name}}`;
        }
        shown += shownValue(p, quoted);
      },
    );
  }
  if (isSql(field)) {
    return fillSlots(
      sqlSlots(parts.map(piece)),
      (p, slot) => sqlMessage(p, slot.problem, field),
      (p) => {
        let sql: string;
        if (p.filter === 'ident') sql = escapeIdentifier(value(p));
        else if (field === 'sql') sql = `$${ctx.bindings.param(p.expr, value(p))}`;
        else sql = escapeLiteral(value(p));
        exec += sql;
        shown += field === 'sql' && p.filter !== 'ident' ? sql : shownValue(p, sql);
      },
    );
  }
  if (field === 'http-url' || field === 'pg-url') {
    const base = URL_BASES[field];
    for (const p of parts) {
      let piece: string;
      if (p.kind !== 'ref') piece = p.text;
      else if (p.filter === 'raw') piece = value(p);
      else if (p.offset === 0) {
        piece = value(p);
        if (!values.get(p)!.missing && !isUrlBase(piece, base.protocols)) {
          const got = ctx.isSecret(p.expr) ? '' : `, got ${JSON.stringify(piece)}`;
          // A scheme and then something that is not a URL: most often a password with # @ / in it.
          const hint = /^[a-z][a-z0-9+.-]*:\/\//i.test(piece) ? '; if its user name or password holds any of : / ? # [ ] @ %, percent-encode them (# as %23, @ as %40, / as %2F)' : '';
          throw new TemplatePlacementError(`${p.source} starts the URL, so it must be a URL base such as ${base.example}${got}${hint}`);
        }
      } else piece = values.get(p)!.missing ? value(p) : encodeURIComponent(value(p));
      exec += piece;
    }
    return { exec, shown: exec };
  }
  for (const p of parts) {
    const literal = p.kind === 'ref' ? value(p) : p.text;
    exec += literal;
  }
  return { exec, shown: exec };
}
