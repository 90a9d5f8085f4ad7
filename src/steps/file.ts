import { dirname } from 'node:path';
import type { ResolvedStep } from '../model/runbook.js';
import type { StepContext, StepOutcome, StepType } from './contract.js';
import { StepFailedError } from './contract.js';
import type { FileParams } from './kit/file-params.js';
import { bytesHash, driftProblem, entryHash, type Entry, type RestoreParams } from './kit/file-snapshot.js';
import { occurrences, transform } from './kit/file-transform.js';
import { asMap, regexProblem } from './kit/param-checks.js';
import type { Owner, Target } from './kit/target.js';

function target(p: FileParams, ctx: Pick<StepContext, 'cwd' | 'target'>): string {
  return ctx.target.resolve(ctx.cwd, p.path);
}

function action(p: FileParams): string {
  if (p.restore) return p.restore.was.kind === 'absent' ? 'delete' : 'restore';
  if (p.absent) return 'delete';
  if (p.content !== undefined) return 'write';
  if (p.replace) return 'replace in';
  return 'ensure line in';
}

/** A missing directory is named as such, not as the temp file the write would have used. */
async function ensureDirectory(on: Target, path: string, shown: string): Promise<void> {
  const dir = dirname(path);
  const shownDir = dirname(shown) === '.' ? dir : dirname(shown);
  const info = await on.info(dir, true);
  if (!info) throw new StepFailedError(`cannot write ${shown}: directory ${shownDir} does not exist`);
  if (info.kind !== 'directory') throw new StepFailedError(`cannot write ${shown}: ${shownDir} is not a directory`);
}

async function write(on: Target, path: string, shown: string, bytes: Buffer, mode?: number, owner?: Owner): Promise<void> {
  await ensureDirectory(on, path, shown);
  try {
    await on.writeFile(path, bytes, mode, owner);
  } catch (error) {
    if (error instanceof StepFailedError) throw error;
    // write-file-atomic names its temp file (`x.conf.919856594`); the operator knows x.conf.
    const message = (error as Error).message.replace(/'([^']*)\.\d{5,}'/g, "'$1'");
    throw new StepFailedError(`cannot write ${shown}: ${message}`);
  }
}

/** Puts mode and owner back in place (no new inode); says what it changed. */
async function putBackMeta(on: Target, path: string, now: Extract<Entry, { kind: 'file' }>, was: { mode: number; uid: number; gid: number }): Promise<string[]> {
  const changed: string[] = [];
  if (now.mode !== was.mode) {
    await on.chmod(path, was.mode);
    changed.push(`mode ${was.mode.toString(8).padStart(4, '0')}`);
  }
  if (now.uid !== was.uid || now.gid !== was.gid) {
    await on.chown(path, was);
    changed.push(`owner ${was.uid}:${was.gid}`);
  }
  return changed;
}

/** write-file-atomic ignores a refused chown when not root: say so instead of leaving a wrong owner silently. */
async function checkOwner(on: Target, path: string, was: Owner): Promise<void> {
  const st = (await on.info(path, true)) ?? { uid: -1, gid: -1 };
  if (st.uid !== was.uid || st.gid !== was.gid) {
    throw new StepFailedError(`restored the bytes of ${path}, but could not give it back to its owner ${was.uid}:${was.gid} (it is ${st.uid}:${st.gid}; run the rollback as root, or: chown ${was.uid}:${was.gid} ${path})`);
  }
}

/** The inverse: puts back what the path held before the apply, unless someone changed it since. */
async function restoreSnapshot(path: string, r: RestoreParams, ctx: StepContext): Promise<StepOutcome> {
  const was = r.was;
  const on = ctx.target;
  const now = await on.readEntry(path, r.follow);
  if (entryHash(now) === r.wasSha256) {
    const fixed = was.kind === 'file' && now.kind === 'file' ? await putBackMeta(on, path, now, was) : [];
    if (was.kind === 'file' && fixed.length) await checkOwner(on, path, was);
    return { detail: fixed.length ? `content already as before; put back ${fixed.join(', ')}` : 'already as before (not touched)' };
  }
  const drift = driftProblem(path, now, r);
  if (drift && !ctx.force) {
    throw new StepFailedError(
      `${drift}. Nothing was written: those changes are still there. Either put ${path} back to its pre-apply content yourself and run the rollback again (it then counts as restored), or overwrite it with the pre-apply content, losing the later changes: runbook rollback --force`,
    );
  }
  const rotated = was.kind === 'file' ? (was.bytes.rotated ?? []) : [];
  if (rotated.length && !ctx.force) {
    throw new StepFailedError(
      `not restoring ${path}: before the apply it held the secret(s) ${rotated.join(', ')}, whose value now is not the one it held (rotated since?); restoring would write the current value where the old one was. Set the old value and run the rollback again, or run: runbook rollback --force (restores it with the current value)`,
    );
  }
  const forced = [...(drift ? ['later changes overwritten (--force)'] : []), ...(rotated.length ? [`current value of ${rotated.join(', ')} used (--force)`] : [])];
  const detail = (text: string) => ({ detail: [text, ...forced].join('; ') });
  if (was.kind === 'absent') {
    await on.remove(path);
    return detail('deleted (it did not exist before)');
  }
  if (was.kind === 'symlink') {
    await ensureDirectory(on, path, path);
    await on.placeSymlink(path, was.target, was);
    return detail(`link restored → ${was.target}`);
  }
  // Forced over a link someone put where `absent` had deleted a file: replace the link, not what it points to.
  if (!r.follow && now.kind === 'symlink') await on.remove(path);
  if (was.bytes.secretsAt?.length) throw new StepFailedError(`cannot restore ${path}: the secret values cut out of its journaled copy were not put back`);
  if (typeof was.bytes.base64 !== 'string') throw new StepFailedError(`cannot restore ${path}: its pre-apply content was not read back from the snapshot store; nothing was written`);
  const bytes = Buffer.from(was.bytes.base64, 'base64');
  if (!rotated.length && bytesHash(bytes) !== r.wasSha256) throw new StepFailedError(`cannot restore ${path}: its journaled copy does not match the fingerprint taken at apply time (the journal was altered?); nothing was written`);
  await write(on, path, path, bytes, was.mode, { uid: was.uid, gid: was.gid });
  await checkOwner(on, path, was);
  return detail(`restored ${bytes.length} bytes`);
}

export const fileStep: StepType<FileParams> = {
  type: 'file',
  summary: 'Change a file atomically: replace text, set its content, ensure a line, or delete it. Undone automatically (prior bytes are kept).',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['path'],
    properties: {
      path: { type: 'string', minLength: 1, description: 'The file, relative to the step’s cwd (default: the runbook’s directory). Its directory must exist.' },
      replace: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to'],
        properties: {
          from: { type: 'string', minLength: 1, description: 'Exact text to find.' },
          to: { type: 'string', description: 'Text to put instead.' },
          count: { type: 'integer', minimum: 1, description: 'Fail unless exactly this many occurrences are found.' },
        },
        description: 'Replace every occurrence of `from` with `to`. Already replaced (no `from`, and `to` present or empty) is a no-op.',
      },
      content: { type: 'string', description: 'The whole new content.' },
      encoding: { enum: ['utf8', 'base64'], description: 'Encoding of `content` (default utf8).' },
      line: { type: 'string', description: 'Ensure this line is present (appended with the file’s line ending, or replacing the line matching `regexp`).' },
      regexp: { type: 'string', description: 'With `line`: the line to replace when present.' },
      absent: { const: true, description: 'Delete the file, or the symlink itself (no error when it does not exist).' },
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
  touches: (p, ctx) => [{ kind: 'file', path: target(p, ctx) }],
  async inverse(p, ctx): Promise<ResolvedStep[]> {
    const path = target(p, ctx);
    // `absent` removes the entry itself (a symlink, not what it points to); the others edit through links.
    const follow = !p.absent;
    const before = await ctx.target.readEntry(path, follow);
    const after = transform(p, before.kind === 'file' ? before.bytes : undefined, p.path);
    const restore: RestoreParams = {
      follow,
      was:
        before.kind === 'file'
          ? { kind: 'file', bytes: { base64: before.bytes.toString('base64') }, mode: before.mode, uid: before.uid, gid: before.gid }
          : before,
      wasSha256: entryHash(before),
      // A step that will fail leaves the path as it is.
      leftSha256: after === undefined || Buffer.isBuffer(after) ? bytesHash(after) : entryHash(before),
    };
    const label = before.kind === 'absent' ? `delete ${path}` : before.kind === 'symlink' ? `restore link ${path} → ${before.target}` : `restore ${path}`;
    return [{ type: 'file', params: { path, restore }, label }];
  },
  async drift(p, on) {
    if (!p.restore) return undefined;
    try {
      return driftProblem(p.path, await on.readEntry(p.path, p.restore.follow), p.restore);
    } catch (error) {
      return (error as Error).message;
    }
  },
  async run(p, ctx) {
    const path = target(p, ctx);
    if (p.restore) return restoreSnapshot(path, p.restore, ctx);
    if (p.absent) return { detail: (await ctx.target.remove(path)) ? 'deleted' : 'already absent' };
    const entry = await ctx.target.readEntry(path, true);
    const before = entry.kind === 'file' ? entry.bytes : undefined;
    const after = transform(p, before, p.path);
    if (!Buffer.isBuffer(after)) throw new StepFailedError(after?.problem ?? 'nothing to do');
    const mode = p.mode !== undefined ? parseInt(p.mode, 8) : undefined;
    if (entry.kind === 'file' && entry.bytes.equals(after) && (mode === undefined || mode === entry.mode)) return { detail: 'unchanged' };
    await write(ctx.target, path, p.path, after, mode);
    return { detail: `${after.length} bytes written` };
  },
  async preview(p, ctx) {
    const path = target(p, ctx);
    if (p.restore) return { verdict: 'will run', detail: `${action(p)} ${p.path}` };
    const entry = await ctx.target.readEntry(path, !p.absent);
    const before = entry.kind === 'file' ? entry.bytes : undefined;
    const after = transform(p, before, p.path);
    if (after !== undefined && !Buffer.isBuffer(after)) return { verdict: 'cannot predict', detail: `${after.problem} now (an earlier step may change that)` };
    if (after === undefined) return { verdict: 'will run', detail: entry.kind !== 'absent' ? `delete ${p.path}` : `${p.path} already absent` };
    if (before?.equals(after)) return { verdict: 'will run', detail: `${p.path} already as wanted (no change)` };
    if (p.replace && before) return { verdict: 'will run', detail: `replace ${occurrences(before, p.replace.from)} occurrence(s) in ${p.path}` };
    return { verdict: 'will run', detail: `${action(p)} ${p.path} (${after.length} bytes)` };
  },
};
