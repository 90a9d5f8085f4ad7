import type { ResolvedStep } from '../model/runbook.js';
import type { ParamProblem, StepContext, StepType } from './contract.js';
import { StepFailedError } from './contract.js';
import { readCrontab, readCrontabState, removeCrontab, targetName, writeCrontab, type CronTarget } from './kit/crontab-io.js';

export interface CronParams extends CronTarget {
  id: string;
  schedule?: string;
  command?: string;
  state: 'present' | 'absent';
  /** For cron.d files: the user column. */
  runAs?: string;
  /** Exact line to put back (what inverses use to restore an entry byte for byte). */
  line?: string;
  /** With absent: when the table ends up empty, remove it (it did not exist before). */
  dropEmpty?: boolean;
  /** Inverses restoring an entry that is gone: its line number (0-based) and the line before it then (null: it was the first). */
  index?: number;
  prev?: string | null;
  /** Inverses: whether the entry's line ended in a newline (only a table's last line may not). */
  nl?: boolean;
  /** Inverses with absent: the table's last line had no newline before the apply (it is taken away again). */
  lastNl?: boolean;
}

/** A table line and whether a newline ends it: a table is these, concatenated, so it is rebuilt byte for byte. */
interface TableLine {
  text: string;
  nl: boolean;
}

function tableLines(text: string): TableLine[] {
  if (text === '') return [];
  const parts = text.split('\n');
  const last = parts.pop()!;
  const lines = parts.map((t) => ({ text: t, nl: true }));
  if (last !== '') lines.push({ text: last, nl: false });
  return lines;
}

const tableText = (lines: TableLine[]) => lines.map((l) => l.text + (l.nl ? '\n' : '')).join('');

/**
 * Where a restored entry goes: after the line that preceded it (at its old line number when that
 * line is still there, else the nearest such line), else at its old line number, else at the
 * end. So it returns before a later `MAILTO=`/`PATH=` line, whose environment it did not have.
 */
function insertionPoint(lines: TableLine[], p: CronParams): number {
  if (p.index === undefined) return lines.length;
  if (p.prev === null) return 0;
  if (p.prev === undefined) return Math.min(p.index, lines.length);
  if (lines[p.index - 1]?.text === p.prev) return p.index;
  let best = -1;
  lines.forEach((l, j) => {
    if (l.text === p.prev && (best < 0 || Math.abs(j - (p.index! - 1)) < Math.abs(best - (p.index! - 1)))) best = j;
  });
  return best >= 0 ? best + 1 : Math.min(p.index, lines.length);
}

const marker = (id: string) => `# runbook:${id}`;
const MACROS = new Set(['@reboot', '@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

/** Why cron would reject `schedule`, or undefined when it is a valid one. */
async function scheduleProblem(schedule: string): Promise<string | undefined> {
  if (MACROS.has(schedule)) return undefined;
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5) return `expected 5 fields (minute hour day month weekday) or a macro such as @daily`;
  const { CronExpressionParser } = await import('cron-parser');
  try {
    CronExpressionParser.parse(schedule);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

async function checkSchedule(schedule: string): Promise<void> {
  const problem = await scheduleProblem(schedule);
  if (problem) throw new StepFailedError(`invalid cron schedule "${schedule}": ${problem}`);
}

/** cron cuts a command at an unescaped `%` (the rest becomes its stdin): a literal one is written `\\%`. One already escaped stays as it is. */
export function escapePercent(command: string): string {
  return command.replace(/(?<!\\)%/g, '\\%');
}

function entryLine(p: CronParams): string {
  if (p.line !== undefined) return p.line;
  const user = p.file ? `${p.runAs ?? 'root'} ` : '';
  return `${p.schedule} ${user}${escapePercent(p.command ?? '')} ${marker(p.id)}`;
}

function isEntry(line: string, id: string): boolean {
  return line.trimEnd().endsWith(marker(id));
}

/**
 * The table with the entry set (or removed); every other byte untouched — comments, blank
 * lines, and a last line without a newline stay as they are. Pure.
 */
export function applyEntry(text: string, p: CronParams): string {
  const lines = tableLines(text);
  const at = lines.findIndex((l) => isEntry(l.text, p.id));
  if (p.state === 'absent') {
    if (at < 0) return text;
    lines.splice(at, 1);
    if (p.lastNl === false && lines.length) lines[lines.length - 1]!.nl = false;
    return tableText(lines);
  }
  const line = entryLine(p);
  if (at >= 0) {
    lines[at] = { text: line, nl: p.nl ?? lines[at]!.nl };
    return tableText(lines);
  }
  const i = insertionPoint(lines, p);
  // The line before it needs its newline now; so does the entry, unless it goes back to being the unterminated last line.
  if (i > 0) lines[i - 1]!.nl = true;
  lines.splice(i, 0, { text: line, nl: i < lines.length ? true : (p.nl ?? true) });
  return tableText(lines);
}

function target(p: CronParams, ctx: Pick<StepContext, 'cwd' | 'target'>): CronTarget {
  return { user: p.user, file: p.file ? ctx.target.resolve(ctx.cwd, p.file) : undefined };
}

export const cronStep: StepType<CronParams> = {
  type: 'cron',
  summary: 'Ensure a cron entry, identified by `id` (a marker comment), is present or absent — in the user’s crontab or a cron.d file. Idempotent and undone automatically.',
  commands: (p) => (p.file ? [] : ['crontab']),
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['id'],
    properties: {
      id: { type: 'string', pattern: '^[A-Za-z0-9._-]+$', description: 'Identifies the entry: written as a `# runbook:<id>` comment on its line.' },
      schedule: { type: 'string', minLength: 1, description: 'Five cron fields (`0 3 * * *`) or a macro (`@daily`); checked before anything is written.' },
      command: { type: 'string', minLength: 1, description: 'The shell command cron runs (template values in it are quoted for where they land).' },
      state: { enum: ['present', 'absent'], description: 'present (default) or absent.' },
      user: { type: 'string', minLength: 1, description: 'Whose crontab (`crontab -u`); default: the current user.' },
      file: { type: 'string', minLength: 1, description: 'A cron.d-style file to edit instead of a crontab.' },
      runAs: { type: 'string', minLength: 1, description: 'With `file`: the user column (default root).' },
      line: { type: 'string', description: 'The exact line to write (used by automatic rollback to restore an entry byte for byte).' },
      dropEmpty: { type: 'boolean', description: 'With state absent: remove the table when it ends up empty (automatic rollback uses it when there was no crontab before).' },
      index: { type: 'integer', minimum: 0, description: 'Automatic rollback: the line number (0-based) the restored entry had.' },
      prev: { type: ['string', 'null'], description: 'Automatic rollback: the line before the restored entry (null: it was the first); it goes back after it.' },
      nl: { type: 'boolean', description: 'Automatic rollback: whether the restored entry’s line ended in a newline.' },
      lastNl: { type: 'boolean', description: 'Automatic rollback with absent: false when the table’s last line had no newline before the apply.' },
    },
    if: { properties: { state: { const: 'absent' } }, required: ['state'] },
    then: {},
    else: { anyOf: [{ required: ['schedule', 'command'] }, { required: ['line'] }] },
  },
  templateFields: { command: 'cron' },
  kind: 'action',
  async check(raw) {
    const r = raw as Partial<CronParams>;
    const problems: ParamProblem[] = [];
    if (r.state !== 'absent' && r.line === undefined && typeof r.schedule === 'string') {
      const problem = await scheduleProblem(r.schedule);
      if (problem) problems.push({ path: ['schedule'], message: `is not a valid cron schedule (${problem}): ${JSON.stringify(r.schedule)}` });
    }
    if (typeof r.command === 'string' && /[\r\n]/.test(r.command)) problems.push({ path: ['command'], message: 'must be one line: a crontab entry cannot hold a line break' });
    return problems;
  },
  normalize(raw) {
    const r = raw as CronParams;
    return { ...r, state: r.state ?? 'present' };
  },
  describe(p) {
    return p.state === 'absent' ? `cron ${p.id} absent` : p.line !== undefined ? `cron ${p.id} restored` : `cron "${p.schedule}" ${p.id} (present)`;
  },
  invertible: () => true,
  async inverse(p, ctx): Promise<ResolvedStep[]> {
    const t = target(p, ctx);
    const table = await readCrontabState(t, ctx.target, ctx.signal);
    const lines = tableLines(table.text);
    const at = lines.findIndex((l) => isEntry(l.text, p.id));
    const base = { id: p.id, ...(t.user ? { user: t.user } : {}), ...(t.file ? { file: t.file } : {}) };
    if (at < 0) {
      const unterminated = lines.length > 0 && !lines[lines.length - 1]!.nl;
      return [{ type: 'cron', params: { ...base, state: 'absent', ...(table.exists ? {} : { dropEmpty: true }), ...(unterminated ? { lastNl: false } : {}) }, label: `remove cron entry ${p.id} from ${targetName(t)}` }];
    }
    const entry = lines[at]!;
    return [{ type: 'cron', params: { ...base, state: 'present', line: entry.text, index: at, prev: at > 0 ? lines[at - 1]!.text : null, nl: entry.nl }, label: `restore cron entry ${p.id} in ${targetName(t)}` }];
  },
  async run(p, ctx) {
    if (p.state === 'present' && p.line === undefined) await checkSchedule(p.schedule ?? '');
    if (p.command?.includes('\n')) throw new StepFailedError('a cron command must be one line');
    const t = target(p, ctx);
    const table = await readCrontabState(t, ctx.target, ctx.signal);
    const before = table.text;
    const after = applyEntry(before, p);
    if (p.dropEmpty && after === '' && table.exists) {
      await removeCrontab(t, ctx.target, ctx.signal);
      return { detail: `${targetName(t)} removed (it did not exist before)` };
    }
    if (after === before) return { detail: `${targetName(t)} already as wanted` };
    await writeCrontab(t, after, ctx.target, ctx.signal);
    return { detail: `${p.state === 'absent' ? 'removed from' : 'written to'} ${targetName(t)}` };
  },
  async preview(p, ctx) {
    const t = target(p, ctx);
    const before = await readCrontab(t, ctx.target, ctx.signal);
    const after = applyEntry(before, p);
    return { verdict: 'will run', detail: after === before ? `${targetName(t)} already as wanted` : `${p.state === 'absent' ? 'remove' : 'set'} entry ${p.id} in ${targetName(t)}` };
  },
};
