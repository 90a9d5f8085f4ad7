import { StepFailedError } from '../contract.js';
import type { Target } from './target.js';

/** Where cron entries live: a user's crontab (via the `crontab` command) or a cron.d-style file. */
export interface CronTarget {
  user?: string;
  file?: string;
}

export function targetName(t: CronTarget): string {
  return t.file ?? (t.user ? `crontab of ${t.user}` : 'crontab');
}

export async function readCrontab(t: CronTarget, on: Target, signal: AbortSignal): Promise<string> {
  return (await readCrontabState(t, on, signal)).text;
}

/** The table's text, and whether it exists at all (no crontab / no file is not an empty one). */
export async function readCrontabState(t: CronTarget, on: Target, signal: AbortSignal): Promise<{ text: string; exists: boolean }> {
  if (t.file) {
    try {
      const bytes = await on.readFile(t.file);
      return bytes === undefined ? { text: '', exists: false } : { text: bytes.toString('utf8'), exists: true };
    } catch (error) {
      if (error instanceof StepFailedError) throw error;
      throw new StepFailedError(`cannot read ${t.file}: ${(error as Error).message}`);
    }
  }
  const argv = ['crontab', ...(t.user ? ['-u', t.user] : []), '-l'];
  const r = await runCrontab(argv, on, signal);
  if (r.exitCode === 0) return { text: r.stdout, exists: true };
  if (/no crontab for/i.test(r.stderr)) return { text: '', exists: false };
  throw new StepFailedError(`crontab -l failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`, { command: argv.join(' '), exitCode: r.exitCode, outputTail: r.tail });
}

/** Removes the whole table (used to return to "no crontab" when that is how it was). */
export async function removeCrontab(t: CronTarget, on: Target, signal: AbortSignal): Promise<void> {
  if (t.file) {
    await on.remove(t.file);
    return;
  }
  const argv = ['crontab', ...(t.user ? ['-u', t.user] : []), '-r'];
  const r = await runCrontab(argv, on, signal);
  if (r.exitCode !== 0 && !/no crontab for/i.test(r.stderr)) throw new StepFailedError(`crontab -r failed: ${r.stderr.trim()}`, { command: argv.join(' '), exitCode: r.exitCode });
}

export async function writeCrontab(t: CronTarget, text: string, on: Target, signal: AbortSignal): Promise<void> {
  if (t.file) {
    await on.writeFile(t.file, Buffer.from(text), 0o644);
    return;
  }
  const argv = ['crontab', ...(t.user ? ['-u', t.user] : []), '-'];
  const r = await runCrontab(argv, on, signal, text);
  if (r.exitCode !== 0) throw new StepFailedError(`crontab refused the new table: ${r.stderr.trim() || `exit ${r.exitCode}`}`, { command: argv.join(' '), exitCode: r.exitCode, outputTail: r.tail });
}

async function runCrontab(argv: string[], on: Target, signal: AbortSignal, input?: string) {
  try {
    return await on.exec({ argv, cwd: '/', env: on.remote ? {} : process.env, signal, input, capture: true });
  } catch (error) {
    if (error instanceof StepFailedError && /command not found/.test(error.message)) {
      throw new StepFailedError('the crontab command is not installed (Debian/Ubuntu: apt-get install cron)', { command: argv.join(' ') });
    }
    throw error;
  }
}
