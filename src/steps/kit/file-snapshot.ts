import { createHash } from 'node:crypto';
import { lchown, lstat, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsyncDir } from '../../support/atomic-write.js';
import { StepFailedError, type JournaledBytes } from '../contract.js';
import { readRegularFile } from './read-regular-file.js';
import type { Entry } from './target.js';

export type { Entry } from './target.js';

/**
 * The inverse of a `file` step, as journaled before the step runs (never written in a
 * runbook): what the path held before, and fingerprints of that state and of the state the
 * step was about to leave, so rollback can tell "as the apply left it" from "edited since".
 */
export interface RestoreParams {
  /** true: the snapshot was read through symlinks (the step edits what a link points to); false: the entry itself (`absent` deletes the link). */
  follow: boolean;
  was: { kind: 'absent' } | { kind: 'file'; bytes: JournaledBytes; mode: number; uid: number; gid: number } | { kind: 'symlink'; target: string; uid: number; gid: number };
  /** sha256 of the state before the step (null: nothing there). */
  wasSha256: string | null;
  /** sha256 of the state the step leaves (null: nothing there). */
  leftSha256: string | null;
}

export async function readEntry(path: string, follow: boolean): Promise<Entry> {
  try {
    const st = follow ? await stat(path) : await lstat(path);
    if (st.isSymbolicLink()) return { kind: 'symlink', target: await readlink(path), uid: st.uid, gid: st.gid };
    const bytes = await readRegularFile(path);
    if (bytes === undefined) return { kind: 'absent' };
    return { kind: 'file', bytes, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch (error) {
    // A dangling symlink: writing through it replaces the link, so the link is what was there.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return follow ? readEntry(path, false) : { kind: 'absent' };
    if (error instanceof StepFailedError) throw error;
    throw new StepFailedError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

/** sha256 of what a path holds: its bytes, or its link target; null when nothing is there. */
export function entryHash(entry: Entry | { kind: 'file'; bytes: Buffer } | { kind: 'symlink'; target: string }): string | null {
  if (entry.kind === 'absent') return null;
  const hash = createHash('sha256');
  if (entry.kind === 'symlink') hash.update('symlink\0').update(entry.target);
  else hash.update(entry.bytes);
  return hash.digest('hex');
}

export function bytesHash(bytes: Buffer | undefined): string | null {
  return bytes === undefined ? null : entryHash({ kind: 'file', bytes });
}

/** Why a restore must not overwrite what is there now, or undefined when it may. */
export function driftProblem(path: string, now: Entry, r: RestoreParams): string | undefined {
  const nowHash = entryHash(now);
  if (nowHash === r.leftSha256 || nowHash === r.wasSha256) return undefined;
  const what = now.kind === 'absent' ? 'it was deleted' : 'it is neither as the apply left it nor as it was before';
  return `${path} was changed by someone else after the apply (${what})`;
}

/** Creates or replaces a symlink atomically (link aside, rename over). */
export async function placeSymlink(path: string, target: string, owner: { uid: number; gid: number }): Promise<void> {
  const aside = join(dirname(path), `.${basename(path)}.runbook-${process.pid}`);
  await symlink(target, aside);
  try {
    await lchown(aside, owner.uid, owner.gid).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPERM') throw error;
    });
    await rename(aside, path);
  } catch (error) {
    await rm(aside, { force: true });
    throw error;
  }
  await fsyncDir(dirname(path));
}
