import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UsageError } from '../../model/diagnostic.js';
import { compareRuns } from '../../model/run-id.js';
import { fsyncDir } from '../../support/atomic-write.js';
import { JournalCorruptError, RunNotFoundError, StateUnavailableError, type LockHandle, type LockHolder, type RunRead, type RunSummary, type StateStore } from '../contract.js';
import { FileRunJournal, readJournalFile } from './journal-file.js';
import { acquireLockFile, isStale, readLockFile, UNKNOWN_HOLDER } from './lock-file.js';
import { FileSnapshotStore } from './snapshot-dir.js';

/** The default state backend: `.runbook/` beside the runbook (or --state-dir). */
export class FileStateStore implements StateStore {
  readonly location: string;
  private readonly runsDir: string;
  private readonly lockPath: string;
  /** `snapshots/` of the state dir: owner-only, beside `runs/`. */
  readonly snapshots: FileSnapshotStore;

  constructor(
    private readonly dir: string,
    private readonly unlockHint: string,
  ) {
    this.location = dir;
    this.runsDir = join(dir, 'runs');
    this.lockPath = join(dir, 'lock');
    this.snapshots = new FileSnapshotStore(join(dir, 'snapshots'));
  }

  /** A state dir that is a file (or under one) is a usage error, said before anything reads or writes. */
  private checkDir(): void {
    try {
      if (!statSync(this.dir).isDirectory()) throw new UsageError(`the state directory ${this.dir} is a file, not a directory; pass --state-dir with a directory`);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') throw new UsageError(`the state directory ${this.dir} cannot exist: part of that path is a file, not a directory; pass --state-dir with a directory`);
      if (code !== 'ENOENT') throw new UsageError(`cannot use the state directory ${this.dir}: ${(error as Error).message}`);
    }
  }

  /**
   * Creates the state and runs directories one level at a time (a recursive mkdirSync spins
   * forever under /proc), each failure said as what it is.
   */
  private ensureDirs(): void {
    this.checkDir();
    const missing: string[] = [];
    for (let d = this.runsDir; ; d = dirname(d)) {
      try {
        if (statSync(d).isDirectory()) break;
        throw new UsageError(`cannot create the state directory ${this.dir}: ${d} is a file`);
      } catch (error) {
        if (error instanceof UsageError) throw error;
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(d) === d) throw new UsageError(`cannot create the state directory ${this.dir}: ${(error as Error).message}`);
        missing.unshift(d);
      }
    }
    for (const d of missing) {
      try {
        mkdirSync(d);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw new UsageError(`cannot create the state directory ${this.dir}: ${(error as Error).message}`);
      }
    }
  }

  async lock(holder: Omit<LockHolder, 'since'>): Promise<LockHandle> {
    this.ensureDirs();
    return acquireLockFile(this.lockPath, holder, this.unlockHint);
  }

  async lockHolder(): Promise<{ holder: LockHolder; stale: boolean; unreadable?: string } | null> {
    this.checkDir();
    const read = readLockFile(this.lockPath);
    if (!read) return null;
    if ('unreadable' in read) return { holder: UNKNOWN_HOLDER, stale: false, unreadable: `${this.lockPath}: ${read.unreadable}` };
    return { holder: read.holder, stale: isStale(read.holder) };
  }

  /** Clears the lock; refuses a live or unreadable one unless `force`. */
  async unlock(force: boolean): Promise<LockHolder | null> {
    const current = await this.lockHolder();
    if (!current) return null;
    if ((!current.stale || current.unreadable) && !force) return current.holder;
    rmSync(this.lockPath, { force: true });
    return current.holder;
  }

  async createRun(runId: string): Promise<FileRunJournal> {
    this.ensureDirs();
    const journal = new FileRunJournal(runId, join(this.runsDir, `${runId}.jsonl`), 0, true, this.snapshots);
    await fsyncDir(this.runsDir);
    return journal;
  }

  /** A run's journal file; an id that is not a plain file name names no run (it must not reach outside the runs dir). */
  private runPath(runId: string): string {
    if (runId === '' || /[/\0]/.test(runId)) throw new RunNotFoundError(runId, `no run ${JSON.stringify(runId)} in ${this.dir}: a run id names a file in ${this.runsDir}`);
    return join(this.runsDir, `${runId}.jsonl`);
  }

  /** A journal's text; a missing one is RunNotFoundError, one that cannot be read says so with its path. */
  private readRunText(runId: string, path = this.runPath(runId)): string {
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new RunNotFoundError(runId, `no run ${runId} in ${this.dir}`);
      throw new StateUnavailableError(`cannot read the journal of run ${runId} (${path}): ${(error as Error).message}; nothing was changed`);
    }
  }

  async openRun(runId: string): Promise<FileRunJournal> {
    const path = this.runPath(runId);
    const text = this.readRunText(runId);
    // A torn last line (crash mid-write) is cut off before appending, so new events start on a line of their own.
    if (text.length > 0 && !text.endsWith('\n')) truncateSync(path, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
    const { events } = await this.readRun(runId);
    const next = events.length ? events[events.length - 1]!.seq + 1 : 0;
    return new FileRunJournal(runId, path, next, false, this.snapshots);
  }

  /** Every run, oldest first; a run whose journal is damaged is listed too (`readRun` says what is wrong). */
  async listRuns(): Promise<RunSummary[]> {
    this.checkDir();
    let names: string[];
    try {
      names = readdirSync(this.runsDir).filter((n) => n.endsWith('.jsonl'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new UsageError(`cannot read the runs in ${this.runsDir}: ${(error as Error).message}`);
    }
    return names
      .map((name) => {
        const runId = name.slice(0, -'.jsonl'.length);
        let events;
        try {
          const path = join(this.runsDir, name);
          events = readJournalFile(path, this.readRunText(runId, path)).events;
        } catch (error) {
          if (!(error instanceof JournalCorruptError)) throw error;
          events = error.readable;
        }
        const last = events[events.length - 1];
        return {
          runId,
          startedAt: events[0]?.at ?? statSync(join(this.runsDir, name)).mtime.toISOString(),
          lastEvent: last?.type ?? 'none',
          finished: events.some((e) => e.type === 'run.finished'),
        };
      })
      .sort(compareRuns);
  }

  async readRun(runId: string): Promise<RunRead> {
    return readJournalFile(this.runPath(runId), this.readRunText(runId));
  }

  async removeRun(runId: string): Promise<void> {
    await rm(this.runPath(runId), { force: true });
    await fsyncDir(this.runsDir);
  }

  async close(): Promise<void> {}
}
