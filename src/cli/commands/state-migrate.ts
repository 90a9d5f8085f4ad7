import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../model/diagnostic.js';
import { FileStateStore } from '../../state/file.js';
import type { MigrateOptions } from '../options.js';
import { reportError } from '../report-error.js';
import { withStore } from '../state.js';
import { stateDirFor } from '../state-dir.js';

/** `runbook state migrate FILE --to postgres://…`: history (and fallback journals) into PostgreSQL. */
export async function run(file: string | undefined, options: MigrateOptions): Promise<number> {
  try {
    if (!/^postgres(ql)?:\/\//.test(options.to)) throw new UsageError('--to expects a postgres://… URL');
    const dir = stateDirFor(file!, options.stateDir);
    if (!existsSync(dir)) throw new UsageError(`no file state at ${dir}`);
    return await withStore(file!, { ...options, state: options.to }, async (store) => {
      const { importFallback, migrateState } = await import('../../state/migrate.js');
      const pg = store as import('../../state/postgres.js').PostgresStateStore;
      const runs = await migrateState(new FileStateStore(dir, ''), pg);
      const fallback = await importFallback(join(dir, 'fallback'), pg);
      for (const r of [...runs.runs, ...fallback.runs]) process.stdout.write(`${r.runId}: ${r.added} event(s) added${r.torn ? ' (torn last line ignored)' : ''}\n`);
      process.stdout.write(`migrated ${runs.runs.length} run(s) and ${fallback.runs.length} fallback journal(s) to ${store.location}\n`);
      return 0;
    });
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
