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

function entryLine(p: CronParams): string {
  if (p.line !== undefined) return p.line;
  const user = p.file ? `${p.runAs ?? 'root'} ` : '';
  return `${p.schedule} ${user}${p.command} ${marker(p.id)}`;
}

function isEntry(line: string, id: string): boolean {
  return line.trimEnd().endsWith(marker(id));
}

/** The table with the entry set (or removed); other lines untouched. Pure. */
export function applyEntry(text: string, p: CronParams): string {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const at = lines.findIndex((l) => isEntry(l, p.id));
  if (p.state === 'absent') {
    if (at < 0) return text;
    lines.splice(at, 1);
    return lines.length ? lines.join('\n') + '\n' : '';
  }
  const line = entryLine(p);
  if (at >= 0) lines[at] = line;
  else lines.push(line);
  return lines.join('\n') + '\n';
}

function target(p: CronParams, ctx: Pick<StepContext, 'cwd'>): CronTarget {
  return { user: p.user, file: p.file ? (p.file.startsWith('/') ? p.file : `${ctx.cwd}/${p.file}`) : undefined };
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
    const table = await readCrontabState(t, ctx.signal);
    const before = table.text.split('\n').find((l) => isEntry(l, p.id));
    const base = { id: p.id, ...(t.user ? { user: t.user } : {}), ...(t.file ? { file: t.file } : {}) };
    if (before === undefined) return [{ type: 'cron', params: { ...base, state: 'absent', ...(table.exists ? {} : { dropEmpty: true }) }, label: `remove cron entry ${p.id} from ${targetName(t)}` }];
    return [{ type: 'cron', params: { ...base, state: 'present', line: before }, label: `restore cron entry ${p.id} in ${targetName(t)}` }];
  },
  async run(p, ctx) {
    if (p.state === 'present' && p.line === undefined) await checkSchedule(p.schedule ?? '');
    if (p.command?.includes('\n')) throw new StepFailedError('a cron command must be one line');
    const t = target(p, ctx);
    const table = await readCrontabState(t, ctx.signal);
    const before = table.text;
    const after = applyEntry(before, p);
    if (p.dropEmpty && after === '' && table.exists) {
      await removeCrontab(t, ctx.signal);
      return { detail: `${targetName(t)} removed (it did not exist before)` };
    }
    if (after === before) return { detail: `${targetName(t)} already as wanted` };
    await writeCrontab(t, after, ctx.signal);
    return { detail: `${p.state === 'absent' ? 'removed from' : 'written to'} ${targetName(t)}` };
  },
  async preview(p, ctx) {
    const t = target(p, ctx);
    const before = await readCrontab(t, ctx.signal);
    const after = applyEntry(before, p);
    return { verdict: 'will run', detail: after === before ? `${targetName(t)} already as wanted` : `${p.state === 'absent' ? 'remove' : 'set'} entry ${p.id} in ${targetName(t)}` };
  },
};
