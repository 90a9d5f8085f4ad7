import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { ResolvedStep } from '../model/runbook.js';
import type { StepContext, StepType } from './contract.js';
import { StepFailedError } from './contract.js';
import { removeFileDurably, writeFileAtomic } from './atomic-write.js';
import { asMap, regexProblem } from './param-checks.js';

export interface FileParams {
  path: string;
  replace?: { from: string; to: string; count?: number };
  content?: string;
  encoding?: 'utf8' | 'base64';
  line?: string;
  regexp?: string;
  absent?: boolean;
  mode?: string;
}

function target(p: FileParams, ctx: Pick<StepContext, 'cwd'>): string {
  return isAbsolute(p.path) ? p.path : resolve(ctx.cwd, p.path);
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StepFailedError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

function countOccurrences(text: string, needle: string): number {
  let count = 0;
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) count++;
  return count;
}

/** The new bytes for `before`, or a reason it cannot be done. Pure. */
function transform(p: FileParams, before: Buffer | undefined, shown: string): Buffer | undefined | { problem: string } {
  if (p.absent) return undefined;
  if (p.content !== undefined) return Buffer.from(p.content, p.encoding === 'base64' ? 'base64' : 'utf8');
  if (p.replace) {
    if (!before) return { problem: `${shown} does not exist` };
    const { from, to } = p.replace;
    const text = before.toString('utf8');
    // When the new text contains the old (80 → 8080), occurrences inside the new text are
    // already replaced: leave them, so applying twice changes nothing.
    const pieces = to.includes(from) ? text.split(to) : [text];
    const found = pieces.reduce((n, piece) => n + countOccurrences(piece, from), 0);
    if (found === 0) {
      if (to !== '' && text.includes(to)) return before;
      return { problem: `text to replace not found in ${shown}: ${JSON.stringify(from.slice(0, 80))}` };
    }
    if (p.replace.count !== undefined && found !== p.replace.count) {
      return { problem: `expected ${p.replace.count} occurrence(s) in ${shown}, found ${found}` };
    }
    return Buffer.from(pieces.map((piece) => piece.split(from).join(to)).join(to));
  }
  if (p.line !== undefined) {
    const text = before?.toString('utf8') ?? '';
    const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
    if (lines.includes(p.line)) return before ?? Buffer.from('');
    const re = p.regexp !== undefined ? new RegExp(p.regexp) : undefined;
    const at = re ? lines.findIndex((l) => re.test(l)) : -1;
    if (at >= 0) lines[at] = p.line;
    else lines.push(p.line);
    return Buffer.from(lines.join('\n') + '\n');
  }
  return { problem: 'nothing to do' };
}

function action(p: FileParams): string {
  if (p.absent) return 'delete';
  if (p.content !== undefined) return 'write';
  if (p.replace) return 'replace in';
  return 'ensure line in';
}

export const fileStep: StepType<FileParams> = {
  type: 'file',
  summary: 'Change a file atomically: replace text, set its content, ensure a line, or delete it. Undone automatically (prior bytes are kept).',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['path'],
    properties: {
      path: { type: 'string', minLength: 1, description: 'The file, relative to the step’s cwd (default: the runbook’s directory).' },
      replace: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to'],
        properties: {
          from: { type: 'string', minLength: 1, description: 'Exact text to find.' },
          to: { type: 'string', description: 'Text to put instead.' },
          count: { type: 'integer', minimum: 1, description: 'Fail unless exactly this many occurrences are found.' },
        },
        description: 'Replace every occurrence of `from` with `to`. Already replaced (no `from`, `to` present) is a no-op.',
      },
      content: { type: 'string', description: 'The whole new content.' },
      encoding: { enum: ['utf8', 'base64'], description: 'Encoding of `content` (default utf8).' },
      line: { type: 'string', description: 'Ensure this line is present (appended, or replacing the line matching `regexp`).' },
      regexp: { type: 'string', description: 'With `line`: the line to replace when present.' },
      absent: { const: true, description: 'Delete the file (no error when it does not exist).' },
      mode: { type: 'string', pattern: '^0?[0-7]{3,4}$', description: 'File mode for the written file, e.g. "0755".' },
    },
    oneOf: [{ required: ['replace'] }, { required: ['content'] }, { required: ['line'] }, { required: ['absent'] }],
  },
  kind: 'action',
  check(raw) {
    return regexProblem(['regexp'], asMap(raw)?.regexp);
  },
  describe(p) {
    return `${action(p)} ${p.path}`;
  },
  invertible: () => true,
  async inverse(p, ctx): Promise<ResolvedStep[]> {
    const path = target(p, ctx);
    const before = await readIfExists(path);
    if (before === undefined) return [{ type: 'file', params: { path, absent: true }, label: `delete ${path}` }];
    const mode = ((await stat(path)).mode & 0o7777).toString(8).padStart(4, '0');
    return [{ type: 'file', params: { path, content: before.toString('base64'), encoding: 'base64', mode }, label: `restore ${path}` }];
  },
  async run(p, ctx) {
    const path = target(p, ctx);
    const before = await readIfExists(path);
    const after = transform(p, before, p.path);
    if (after !== undefined && !Buffer.isBuffer(after)) throw new StepFailedError(after.problem);
    const mode = p.mode !== undefined ? parseInt(p.mode, 8) : undefined;
    if (after === undefined) {
      const removed = await removeFileDurably(path);
      return { detail: removed ? 'deleted' : 'already absent' };
    }
    if (before && before.equals(after) && mode === undefined) return { detail: 'unchanged' };
    try {
      await writeFileAtomic(path, after, mode);
    } catch (error) {
      throw new StepFailedError(`cannot write ${p.path}: ${(error as Error).message}`);
    }
    return { detail: `${after.length} bytes written` };
  },
  async preview(p, ctx) {
    const path = target(p, ctx);
    const before = await readIfExists(path);
    const after = transform(p, before, p.path);
    if (after !== undefined && !Buffer.isBuffer(after)) return { verdict: 'cannot predict', detail: `${after.problem} now (an earlier step may change that)` };
    if (after === undefined) return { verdict: 'will run', detail: before ? `delete ${p.path}` : `${p.path} already absent` };
    if (before?.equals(after)) return { verdict: 'will run', detail: `${p.path} already as wanted (no change)` };
    if (p.replace && before) return { verdict: 'will run', detail: `replace ${countOccurrences(before.toString('utf8'), p.replace.from)} occurrence(s) in ${p.path}` };
    return { verdict: 'will run', detail: `${action(p)} ${p.path} (${after.length} bytes)` };
  },
};
