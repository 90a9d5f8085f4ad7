import { createHash } from 'node:crypto';
import type { RehearsalDifference } from '../model/events.js';
import type { PlannedChange } from '../model/plan.js';
import { firstDifferingLines } from '../support/line-diff.js';
import type { Touched } from '../steps/contract.js';
import { readCrontabState, removeCrontab, targetName, writeCrontab } from '../steps/kit/crontab-io.js';
import type { Target } from '../steps/kit/target.js';
import { stepType } from '../steps/registry.js';
import { stepContext, type StepEnvironment } from './step-runner.js';

/** What one file or crontab held: kept in memory only (never journaled), for the comparison and the diff. */
interface Held {
  exists: boolean;
  bytes: Buffer;
  sha256: string;
  /** Files: permission bits. */
  mode?: number;
  /** Files: the entry is a symlink to this (its bytes are what it points to). */
  link?: string;
}

export interface Fingerprint {
  target: Touched;
  /** The file's path, or the crontab's name (`crontab`, `crontab of USER`, a cron.d file). */
  name: string;
  held: Held;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function held(exists: boolean, bytes: Buffer, extra: { mode?: number; link?: string } = {}): Held {
  return { exists, bytes, sha256: sha256(bytes), ...extra };
}

/** Every file and crontab the change's file and cron steps touch (apply, verify and rollback steps), resolved as those steps resolve them. */
export function touchedBy(planned: PlannedChange, base: StepEnvironment): Touched[] {
  const seen = new Map<string, Touched>();
  for (const step of [...planned.apply, ...planned.verify, ...(planned.rollback ?? [])]) {
    const def = stepType(step.type);
    if (!def?.touches) continue;
    const ctx = stepContext(step, 'apply', base, new AbortController().signal);
    for (const t of def.touches(step.params as never, ctx)) seen.set(nameOf(t), t);
  }
  return [...seen.values()];
}

export function nameOf(t: Touched): string {
  return t.kind === 'file' ? t.path : targetName(t);
}

async function read(t: Touched, on: Target, signal: AbortSignal): Promise<Held> {
  if (t.kind === 'crontab') {
    const table = await readCrontabState(t, on, signal);
    return held(table.exists, Buffer.from(table.text, 'utf8'));
  }
  const entry = await on.readEntry(t.path, false);
  if (entry.kind === 'absent') return held(false, Buffer.alloc(0));
  if (entry.kind === 'file') return held(true, entry.bytes, { mode: entry.mode });
  const through = await on.readEntry(t.path, true);
  return held(true, through.kind === 'file' ? through.bytes : Buffer.alloc(0), { link: entry.target, ...(through.kind === 'file' ? { mode: through.mode } : {}) });
}

/** Reads what each file and crontab holds now on `on` (sha256, and the bytes for a later diff). */
export async function takeFingerprints(targets: Touched[], on: Target, signal: AbortSignal): Promise<Fingerprint[]> {
  const prints: Fingerprint[] = [];
  for (const target of targets) prints.push({ target, name: nameOf(target), held: await read(target, on, signal) });
  return prints;
}

const looksBinary = (bytes: Buffer) => bytes.subarray(0, 8000).includes(0);
const octal = (mode?: number) => (mode === undefined ? '?' : mode.toString(8).padStart(4, '0'));

function difference(print: Fingerprint, now: Held, redact: (text: string) => string): RehearsalDifference | undefined {
  const was = print.held;
  const base = { target: print.name, kind: print.target.kind };
  const what = print.target.kind === 'crontab' ? 'the table' : 'the file';
  if (was.exists !== now.exists) {
    const summary = was.exists ? `${what} is gone: it existed before the apply (${was.bytes.length} bytes) and the rollback did not put it back` : `${what} is still there (${now.bytes.length} bytes): it did not exist before the apply`;
    return { ...base, summary, lines: firstDifferingLines(was.bytes.toString('utf8'), now.bytes.toString('utf8'), redact) };
  }
  if (was.link !== now.link) return { ...base, summary: `was ${was.link ? `a link to ${was.link}` : 'a file'}, is ${now.link ? `a link to ${now.link}` : 'a file'} now`, lines: [] };
  if (was.sha256 !== now.sha256) {
    if (looksBinary(was.bytes) || looksBinary(now.bytes)) return { ...base, summary: `binary content differs: ${was.bytes.length} bytes before the apply, ${now.bytes.length} now`, lines: [] };
    return { ...base, summary: `content differs: ${was.bytes.length} bytes before the apply, ${now.bytes.length} after the rollback`, lines: firstDifferingLines(was.bytes.toString('utf8'), now.bytes.toString('utf8'), redact) };
  }
  if (was.mode !== now.mode) return { ...base, summary: `mode differs: ${octal(was.mode)} before the apply, ${octal(now.mode)} after the rollback`, lines: [] };
  return undefined;
}

/** What differs now from the fingerprints: one entry per file or crontab that is not byte for byte as it was. */
export async function compareFingerprints(prints: Fingerprint[], on: Target, signal: AbortSignal, redact: (text: string) => string): Promise<RehearsalDifference[]> {
  const out: RehearsalDifference[] = [];
  for (const print of prints) {
    const d = difference(print, await read(print.target, on, signal), redact);
    if (d) out.push(d);
  }
  return out;
}

/**
 * Puts back what the fingerprints hold, for the targets named (those an inexact undo left
 * different), so a failed rehearsal leaves the system as it was. A symlink is not recreated:
 * it is named in `left` instead.
 */
export async function putBack(prints: Fingerprint[], names: string[], on: Target, signal: AbortSignal): Promise<{ restored: string[]; left: string[] }> {
  const restored: string[] = [];
  const left: string[] = [];
  for (const print of prints.filter((p) => names.includes(p.name))) {
    const { target, held: was } = print;
    try {
      if (target.kind === 'crontab') {
        if (was.exists) await writeCrontab(target, was.bytes.toString('utf8'), on, signal);
        else await removeCrontab(target, on, signal);
      } else if (was.link !== undefined) {
        left.push(print.name);
        continue;
      } else if (was.exists) {
        await on.writeFile(target.path, was.bytes, was.mode);
      } else {
        await on.remove(target.path);
      }
      restored.push(print.name);
    } catch {
      left.push(print.name);
    }
  }
  return { restored, left };
}
