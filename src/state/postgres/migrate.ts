import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UsageError } from '../../model/diagnostic.js';
import type { JournalEvent } from '../../model/events.js';
import { snapshotDigests } from '../../model/snapshot.js';
import { fsyncDir } from '../../support/atomic-write.js';
import { readJournalFile } from '../file/journal-file.js';
import { FileSnapshotStore } from '../file/snapshot-dir.js';
import { pack } from '../snapshot-codec.js';
import { EventConflictError, type PostgresStateDb, type RunOwner } from './db.js';
import { readFallbackMeta } from './postgres-store.js';

export interface MigratedRun {
  runId: string;
  path: string;
  owner: RunOwner;
  /** Events added (0: already there in full). */
  added: number;
  torn: boolean;
  /** A fallback journal: moved to `fallback/reconciled/` once in the database. */
  fallback: boolean;
  /** Snapshots its events reference, copied into the database with them. */
  snapshots: number;
  /** Snapshots its events reference that were in no local snapshot store (a rollback of it will say so). */
  missingSnapshots: string[];
}

export interface MigrateReport {
  runs: MigratedRun[];
  /** Journals not imported because an event differs from the one stored with its seq (kept where they are). */
  conflicts: { runId: string; path: string; message: string }[];
}

interface Journal {
  runId: string;
  path: string;
  fallback: boolean;
}

/** `.runbook/`-style state dir (runs/ and fallback/), or a dir of journals (e.g. `.runbook/fallback`). */
function journalsIn(dir: string): Journal[] {
  const list = (sub: string, fallback: boolean): Journal[] => {
    let names: string[];
    try {
      names = readdirSync(sub).filter((n) => n.endsWith('.jsonl'));
    } catch {
      return [];
    }
    return names.sort().map((n) => ({ runId: n.slice(0, -'.jsonl'.length), path: join(sub, n), fallback: fallback || readFallbackMeta(join(sub, n)) !== undefined }));
  };
  if (existsSync(join(dir, 'runs')) || existsSync(join(dir, 'fallback'))) return [...list(join(dir, 'runs'), false), ...list(join(dir, 'fallback'), true)];
  return list(dir, basename(dir) === 'fallback');
}

/** Whose run a journal is: its fallback meta, else its run.started event, else the defaults. */
function ownerOf(journal: Journal, events: JournalEvent[], defaults: { runbook?: string; environment: string }): RunOwner {
  const meta = readFallbackMeta(journal.path);
  if (meta) return { runbook: meta.runbook, environment: meta.environment };
  const started = events.find((e) => e.type === 'run.started');
  const runbook = (started?.type === 'run.started' ? started.runbook : undefined) ?? defaults.runbook;
  if (!runbook) throw new UsageError(`cannot tell which runbook run ${journal.runId} (${journal.path}) belongs to: name the runbook FILE`);
  return { runbook, environment: defaults.environment };
}

/** A reconciled fallback journal (and its meta) goes to `reconciled/`, so apply no longer waits for it. */
async function setAside(journal: Journal): Promise<void> {
  const dir = join(journal.path, '..');
  const done = join(dir, 'reconciled');
  mkdirSync(done, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:.]/g, '');
  renameSync(journal.path, join(done, `${journal.runId}.${stamp}.jsonl`));
  const meta = journal.path.replace(/\.jsonl$/, '.json');
  if (existsSync(meta)) renameSync(meta, join(done, `${journal.runId}.${stamp}.json`));
  await fsyncDir(done);
  await fsyncDir(dir);
}

/** The local snapshot stores a journal under `dir` may reference: the state dir's, and the fallback journals'. */
function snapshotStoresFor(dir: string): FileSnapshotStore[] {
  const dirs = basename(dir) === 'fallback' ? [join(dir, 'snapshots'), join(dirname(dir), 'snapshots')] : [join(dir, 'snapshots'), join(dir, 'fallback', 'snapshots')];
  return dirs.filter((d) => existsSync(d)).map((d) => new FileSnapshotStore(d));
}

/** The referenced snapshots found locally, compressed as stored, and the digests found nowhere. */
async function localSnapshots(events: JournalEvent[], stores: FileSnapshotStore[]): Promise<{ found: { digest: string; size: number; data: Buffer }[]; missing: string[] }> {
  const found: { digest: string; size: number; data: Buffer }[] = [];
  const missing: string[] = [];
  for (const digest of snapshotDigests(events)) {
    let bytes: Buffer | undefined;
    for (const store of stores) {
      bytes = await store.get(digest).catch(() => undefined);
      if (bytes) break;
    }
    if (bytes) found.push({ digest, size: bytes.length, data: await pack(bytes) });
    else missing.push(digest);
  }
  return { found, missing };
}

/**
 * Copies every run journal under `dir` (a file state dir, or a fallback dir) into PostgreSQL
 * with its seq and times, and the snapshots it references (from the local snapshot stores),
 * one transaction per run. Safe to run again: events already stored
 * identically are skipped, so an interrupted migration is finished by running it once more.
 * A journal whose event differs from the stored one with the same seq is not imported and is
 * reported as a conflict; nothing is ever dropped silently.
 */
export async function migrateJournals(dir: string, to: PostgresStateDb, defaults: { runbook?: string; environment: string }): Promise<MigrateReport> {
  const report: MigrateReport = { runs: [], conflicts: [] };
  const stores = snapshotStoresFor(dir);
  const copied = new Set<string>();
  const kept = new Set<string>();
  for (const journal of journalsIn(dir)) {
    const { events, torn } = readJournalFile(journal.path);
    const owner = ownerOf(journal, events, defaults);
    const snapshots = await localSnapshots(events, stores);
    // Stored in the database before the event that references it failed over to the fallback journal: not missing.
    if (snapshots.missing.length) {
      const there = await to.query<{ digest: string }>('looking up snapshots', `SELECT digest FROM ${to.s}.snapshots WHERE runbook = $1 AND environment = $2 AND digest = ANY($3::text[])`, [owner.runbook, owner.environment, snapshots.missing]);
      snapshots.missing = snapshots.missing.filter((d) => !there.some((r) => r.digest === d));
    }
    try {
      const added = await to.importEvents(journal.runId, events, owner, snapshots.found);
      if (journal.fallback) await setAside(journal);
      report.runs.push({ runId: journal.runId, path: journal.path, owner, added, torn, fallback: journal.fallback, snapshots: snapshots.found.length, missingSnapshots: snapshots.missing });
      if (journal.fallback) snapshots.found.forEach((s) => copied.add(s.digest));
    } catch (error) {
      if (!(error instanceof EventConflictError)) throw error;
      report.conflicts.push({ runId: journal.runId, path: journal.path, message: error.message });
      snapshotDigests(events).forEach((d) => kept.add(d));
    }
  }
  // The fallback's snapshots are in the database now: the local copies go, unless a journal left behind (a conflict) needs them.
  const fallbackStore = stores.find((s) => basename(dirname(s.location)) === 'fallback');
  if (fallbackStore) {
    const local = new Set(await fallbackStore.list());
    await fallbackStore.remove([...copied].filter((d) => local.has(d) && !kept.has(d)));
  }
  return report;
}
