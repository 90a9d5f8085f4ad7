import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir } from '../steps/atomic-write.js';
import type { LockHandle, LockHolder, RunRead, RunSummary, StateStore } from './contract.js';
import { FileRunJournal, readJournalFile } from './journal-file.js';
import { acquireLockFile, isStale, readLock } from './lock-file.js';

/** The default state backend: `.runbook/` beside the runbook (or --state-dir). */
export class FileStateStore implements StateStore {
  readonly location: string;
  private readonly runsDir: string;
  private readonly lockPath: string;

  constructor(
    dir: string,
    private readonly unlockHint: string,
  ) {
    this.location = dir;
    this.runsDir = join(dir, 'runs');
    this.lockPath = join(dir, 'lock');
  }

  private ensureDirs(): void {
    mkdirSync(this.runsDir, { recursive: true });
  }

  async lock(holder: Omit<LockHolder, 'since'>): Promise<LockHandle> {
    this.ensureDirs();
    return acquireLockFile(this.lockPath, holder, this.unlockHint);
  }

  async lockHolder(): Promise<{ holder: LockHolder; stale: boolean } | null> {
    const holder = readLock(this.lockPath);
    return holder ? { holder, stale: isStale(holder) } : null;
  }

  async unlock(force: boolean): Promise<LockHolder | null> {
    const current = await this.lockHolder();
    if (!current) return null;
    if (!current.stale && !force) return current.holder;
    rmSync(this.lockPath, { force: true });
    return current.holder;
  }

  async createRun(runId: string): Promise<FileRunJournal> {
    this.ensureDirs();
    const journal = new FileRunJournal(runId, join(this.runsDir, `${runId}.jsonl`), 0, true);
    await fsyncDir(this.runsDir);
    return journal;
  }

  async openRun(runId: string): Promise<FileRunJournal> {
    const path = join(this.runsDir, `${runId}.jsonl`);
    const text = readFileSync(path, 'utf8');
    // A torn last line (crash mid-write) is cut off before appending, so new events start on a line of their own.
    if (text.length > 0 && !text.endsWith('\n')) truncateSync(path, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
    const { events } = await this.readRun(runId);
    const next = events.length ? events[events.length - 1]!.seq + 1 : 0;
    return new FileRunJournal(runId, join(this.runsDir, `${runId}.jsonl`), next, false);
  }

  async listRuns(): Promise<RunSummary[]> {
    let names: string[];
    try {
      names = readdirSync(this.runsDir).filter((n) => n.endsWith('.jsonl'));
    } catch {
      return [];
    }
    return names
      .sort()
      .map((name) => {
        const runId = name.slice(0, -'.jsonl'.length);
        const { events } = readJournalFile(join(this.runsDir, name));
        const last = events[events.length - 1];
        return {
          runId,
          startedAt: events[0]?.at ?? statSync(join(this.runsDir, name)).mtime.toISOString(),
          lastEvent: last?.type ?? 'none',
          finished: events.some((e) => e.type === 'run.finished'),
        };
      });
  }

  async readRun(runId: string): Promise<RunRead> {
    return readJournalFile(join(this.runsDir, `${runId}.jsonl`));
  }

  async close(): Promise<void> {}
}
