import { runProcess } from './process.js';
import { StepFailedError } from './contract.js';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './atomic-write.js';

/** Where cron entries live: a user's crontab (via the `crontab` command) or a cron.d-style file. */
export interface CronTarget {
  user?: string;
  file?: string;
}

export function targetName(t: CronTarget): string {
  return t.file ?? (t.user ? `crontab of ${t.user}` : 'crontab');
}

export async function readCrontab(t: CronTarget, signal: AbortSignal): Promise<string> {
  if (t.file) {
    try {
      return await readFile(t.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw new StepFailedError(`cannot read ${t.file}: ${(error as Error).message}`);
    }
  }
  const argv = ['crontab', ...(t.user ? ['-u', t.user] : []), '-l'];
  const r = await runCrontab(argv, signal);
  if (r.exitCode === 0) return r.stdout;
  if (/no crontab for/i.test(r.stderr)) return '';
  throw new StepFailedError(`crontab -l failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`, { command: argv.join(' '), exitCode: r.exitCode, outputTail: r.tail });
}

export async function writeCrontab(t: CronTarget, text: string, signal: AbortSignal): Promise<void> {
  if (t.file) {
    await writeFileAtomic(t.file, text, 0o644);
    return;
  }
  const argv = ['crontab', ...(t.user ? ['-u', t.user] : []), '-'];
  const r = await runCrontab(argv, signal, text);
  if (r.exitCode !== 0) throw new StepFailedError(`crontab refused the new table: ${r.stderr.trim() || `exit ${r.exitCode}`}`, { command: argv.join(' '), exitCode: r.exitCode, outputTail: r.tail });
}

async function runCrontab(argv: string[], signal: AbortSignal, input?: string) {
  try {
    return await runProcess({ argv, cwd: '/', env: process.env, signal, input, capture: true });
  } catch (error) {
    if (error instanceof StepFailedError && /command not found/.test(error.message)) {
      throw new StepFailedError('the crontab command is not installed (Debian/Ubuntu: apt-get install cron)', { command: argv.join(' ') });
    }
    throw error;
  }
}
