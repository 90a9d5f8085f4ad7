import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import type { EngineEvent, JournalEvent } from '../../model/events.js';
import { JournalCorruptError, type RunJournal, type RunRead, type SnapshotStore } from '../contract.js';

/**
 * One run's events as JSON lines, appended with synchronous writes (microseconds) and made
 * durable with fdatasync only where the caller needs it before proceeding.
 */
export class FileRunJournal implements RunJournal {
  private fd: number;
  private seq: number;
  private dirty = false;

  constructor(
    readonly runId: string,
    readonly path: string,
    nextSeq: number,
    create: boolean,
    readonly snapshots: SnapshotStore,
  ) {
    this.fd = openSync(path, create ? 'wx' : 'a', 0o600);
    this.seq = nextSeq;
  }

  async append(event: EngineEvent, durable = true): Promise<void> {
    this.appendSync(event, durable);
  }

  appendSync(event: EngineEvent, durable = true): void {
    const record: JournalEvent = { ...event, seq: this.seq++, at: new Date().toISOString() };
    crashPoint('before', record.seq);
    writeSync(this.fd, JSON.stringify(record) + '\n');
    this.dirty = true;
    if (durable) this.flush();
    crashPoint('after', record.seq);
  }

  flush(): void {
    if (!this.dirty) return;
    fdatasyncSync(this.fd);
    this.dirty = false;
  }

  async close(): Promise<void> {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * Fault injection for the crash tests: RUNBOOK_CRASH_AT="after:12" (or "before:12") kills this
 * process with SIGKILL right after (before) journal event 12 is written — the instant a
 * power loss could strike. Unset in normal use; costs one comparison per event.
 */
const crashAt = /^(before|after):(\d+)$/.exec(process.env.RUNBOOK_CRASH_AT ?? '');
export function crashPoint(when: 'before' | 'after', seq: number): void {
  if (crashAt && crashAt[1] === when && Number(crashAt[2]) === seq) process.kill(process.pid, 'SIGKILL');
}

/**
 * Reads a journal; a torn (partly written) last line is ignored and reported. Any other line
 * that is not an event throws JournalCorruptError (naming the first such line).
 */
export function readJournalFile(path: string, text = readFileSync(path, 'utf8')): RunRead {
  const lines = text.split('\n');
  const events: JournalEvent[] = [];
  let torn = false;
  let corrupt: { line: number; detail: string } | undefined;
  lines.forEach((line, i) => {
    if (line === '') return;
    let event: JournalEvent | undefined;
    let detail = 'not JSON';
    try {
      event = JSON.parse(line) as JournalEvent;
      if (typeof event?.type !== 'string') [event, detail] = [undefined, 'no event type'];
    } catch (error) {
      detail = (error as Error).message;
    }
    if (event) events.push(event);
    // Only the last line can be torn by a crash; anything else is corruption worth saying.
    else if (i >= lines.length - 2) torn = true;
    else corrupt ??= { line: i + 1, detail };
  });
  if (corrupt) throw new JournalCorruptError(basename(path).replace(/\.jsonl$/, ''), path, corrupt.line, corrupt.detail, events);
  return { events, torn };
}
