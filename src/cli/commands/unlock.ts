import { describeHolder } from '../../state/lock-file.js';
import type { UnlockOptions } from '../options.js';
import { reportError } from '../report-error.js';
import { withStore } from '../state.js';

export async function run(file: string | undefined, options: UnlockOptions): Promise<number> {
  try {
    return await withStore(file!, options, async (store) => {
      const current = await store.lockHolder();
      if (!current) {
        process.stdout.write('not locked\n');
        return 0;
      }
      if (!current.stale && !options.force) {
        process.stderr.write(`runbook: the lock is held by a live process: ${describeHolder(current.holder)}; refusing. If you are sure it is not running a change, use --force\n`);
        return 4;
      }
      await store.unlock(options.force);
      process.stdout.write(`lock cleared (was ${describeHolder(current.holder)})\n`);
      return 0;
    });
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
