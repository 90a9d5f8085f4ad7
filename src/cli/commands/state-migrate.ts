import { statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { UsageError } from '../../model/diagnostic.js';
import { environmentOf, localStateDir, parseStateUrl, runbookKey } from '../kit/open-store.js';
import type { MigrateOptions } from '../kit/options.js';
import { reportError } from '../kit/report-error.js';

/**
 * `runbook state migrate --from DIR --to postgres://…` (or `state migrate FILE`): copies run
 * journals into PostgreSQL — a file state dir's history, or the fallback journals kept while
 * the database was unreachable (the reconcile step). Exit 3 when a journal conflicts with
 * what the database holds (it is kept, not dropped).
 */
export async function run(file: string | undefined, options: MigrateOptions): Promise<number> {
  try {
    const target = options.to ?? options.state;
    if (!target) throw new UsageError('state migrate needs the database: --to postgres://…[?schema=name] (or RUNBOOK_STATE)');
    if (!file && !options.from) throw new UsageError('state migrate needs --from DIR (a state dir such as .runbook, or its fallback dir) or a runbook FILE');
    const from = options.from ? resolve(options.from) : localStateDir(file!, options);
    // `.runbook/environments/<name>` is that environment's state unless --environment says otherwise.
    const environment = options.environment === undefined && basename(dirname(from)) === 'environments' ? environmentOf({ environment: basename(from) }) : environmentOf(options);
    if (!statSync(from, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`${options.from ? '--from' : 'state migrate'}: no directory ${from}`);
    const { url, schema } = parseStateUrl(target, options.to ? '--to' : '--state');
    const { PostgresStateDb } = await import('../../state/postgres/db.js');
    const { migrateJournals } = await import('../../state/postgres/migrate.js');
    const db = new PostgresStateDb(url, { schema });
    try {
      // Connect first: an unreachable or unusable database is said so even when there is nothing to copy.
      await db.pool();
      const report = await migrateJournals(from, db, { runbook: file ? runbookKey(file) : undefined, environment });
      for (const r of report.runs) {
        const notes = [r.torn ? 'torn last line ignored' : '', r.fallback ? 'fallback journal reconciled, set aside in reconciled/' : '', r.snapshots ? `${r.snapshots} snapshot(s) copied` : ''].filter(Boolean);
        process.stdout.write(`${r.runId} (${r.owner.runbook}, environment ${r.owner.environment}): ${r.added} event(s) added${notes.length ? ` (${notes.join('; ')})` : ''}\n`);
      }
      const fallbacks = report.runs.filter((r) => r.fallback).length;
      if (report.runs.length === 0 && report.conflicts.length === 0) process.stdout.write(`nothing to migrate: no run journals in ${from}\n`);
      else process.stdout.write(`migrated ${report.runs.length - fallbacks} run(s) and ${fallbacks} fallback journal(s) from ${from} to ${db.location}\n`);
      for (const r of report.runs.filter((x) => x.missingSnapshots.length)) {
        process.stderr.write(`warning: run ${r.runId} references snapshot(s) found in no local snapshot store: ${r.missingSnapshots.join(', ')}; a rollback of it will stop (exit 3) naming the file each one restores\n`);
      }
      for (const c of report.conflicts) {
        process.stderr.write(`runbook: ${c.message}; ${c.path} was NOT imported and is kept as it is. Compare it with the run in the database (runbook history), then resolve by hand.\n`);
      }
      return report.conflicts.length ? 3 : 0;
    } finally {
      await db.close();
    }
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
