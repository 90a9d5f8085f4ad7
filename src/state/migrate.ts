import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FileStateStore } from './file.js';
import { readJournalFile } from './journal-file.js';
import type { PostgresStateStore } from './postgres.js';

export interface MigrateReport {
  /** Runs with the number of events added (0: already there in full). */
  runs: { runId: string; added: number; torn: boolean }[];
}

/**
 * Copies every run and its events from the file backend into PostgreSQL, keeping seq and
 * time. Safe to run again: events already stored are skipped, so an interrupted migration
 * is finished by running it once more. Each run is copied in one transaction.
 */
export async function migrateState(from: FileStateStore, to: PostgresStateStore): Promise<MigrateReport> {
  const report: MigrateReport = { runs: [] };
  for (const run of await from.listRuns()) {
    const { events, torn } = await from.readRun(run.runId);
    const added = await to.importEvents(run.runId, events);
    report.runs.push({ runId: run.runId, added, torn });
  }
  return report;
}

/**
 * Copies the local fallback journals (`<localDir>/fallback/<runId>.jsonl`, written while the
 * database was unreachable) into the database once it is back: the reconcile step.
 */
export async function importFallback(fallbackDir: string, to: PostgresStateStore): Promise<MigrateReport> {
  const report: MigrateReport = { runs: [] };
  let names: string[];
  try {
    names = readdirSync(fallbackDir).filter((n) => n.endsWith('.jsonl'));
  } catch {
    return report;
  }
  for (const name of names.sort()) {
    const runId = name.slice(0, -'.jsonl'.length);
    const { events, torn } = readJournalFile(join(fallbackDir, name));
    report.runs.push({ runId, added: await to.importEvents(runId, events), torn });
  }
  return report;
}
