import { describeHolder } from '../../state/file/lock-file.js';
import { runbookCommand } from '../kit/next-command.js';
import { withStore } from '../kit/open-store.js';
import type { UnlockOptions } from '../kit/options.js';
import { reportError } from '../kit/report-error.js';

export async function run(file: string | undefined, options: UnlockOptions): Promise<number> {
  try {
    return await withStore(file!, options, async (store) => {
      const current = await store.lockHolder();
      if (!current) {
        process.stdout.write('not locked\n');
        return 0;
      }
      const force = runbookCommand(['unlock', file!, '--force'], { ...options, varsFile: [] });
      if (current.unreadable && !options.force) {
        process.stderr.write(`runbook: the lock is unreadable (${current.unreadable}), so who holds it is unknown; refusing. If no apply or rollback is running, clear it with: ${force}\n`);
        return 4;
      }
      if (!current.stale && !current.unreadable && !options.force) {
        process.stderr.write(`runbook: the lock is held by a live process: ${describeHolder(current.holder)}; refusing. If you are sure it is not running a change, use: ${force}\n`);
        return 4;
      }
      await store.unlock(options.force);
      process.stdout.write(`lock cleared (was ${current.unreadable ? `unreadable: ${current.unreadable}` : describeHolder(current.holder)})\n`);
      return 0;
    });
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
