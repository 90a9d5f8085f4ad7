import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../../model/diagnostic.js';
import { writeFileAtomic } from '../../support/atomic-write.js';

/** A report file (`--junit`, `--html`) must be writable before anything runs: a usage error (exit 2) now, not a lost report after the run. */
export function checkReportPath(path: string, flag: string): string {
  const abs = resolve(path);
  const dir = dirname(abs);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UsageError(`${flag} ${path}: cannot write there (${isDir ? 'the directory is not writable' : `no directory ${dir}`}); nothing was done`);
  }
  try {
    if (statSync(abs).isDirectory()) throw new UsageError(`${flag} ${path} is a directory; give a file name; nothing was done`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
  }
  return abs;
}

/** Writes a report atomically (a reader never sees half of it), readable by others (it holds no secrets: its text is redacted). */
export async function writeReport(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, text, 0o644);
}
