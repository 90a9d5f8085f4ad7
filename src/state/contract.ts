import { UsageError } from '../model/diagnostic.js';
import type { EngineEvent, JournalEvent } from '../model/events.js';

/** Who holds a lock: shown to the operator who is refused. */
export interface LockHolder {
  pid: number;
  host: string;
  user: string;
  command: string;
  since: string;
  runId?: string;
  /** The holder's boot (Linux /proc/sys/kernel/random/boot_id) and process start time (/proc/PID/stat field 22), to tell a dead holder from a pid reused since. */
  boot?: string;
  startTime?: string;
}

export class LockedError extends Error {
  readonly holder: LockHolder;
  /** True when the holder's pid is dead on this host (the lock is stale). */
  readonly stale: boolean;
  constructor(holder: LockHolder, stale: boolean, message: string) {
    super(message);
    this.name = 'LockedError';
    this.holder = holder;
    this.stale = stale;
  }
}

/** The state backend cannot record an event: the run stops before the next step (exit 3). */
export class StateUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateUnavailableError';
  }
}

/**
 * The state backend cannot be used at all (malformed URL, database unreachable or refusing us
 * at start, schema newer than this code): nothing was done. Exit 2, like other usage problems.
 */
export class StateUnusableError extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = 'StateUnusableError';
  }
}

/** Events kept locally while the state database was unreachable, not yet copied into it. */
export interface UnreconciledJournal {
  runId: string;
  path: string;
  events: number;
  /** The exact command that copies it into the database. */
  reconcile: string;
}

/** No run of that id in this state (and environment): what `readRun` and `openRun` throw for it, and only for it. */
export class RunNotFoundError extends Error {
  constructor(
    readonly runId: string,
    message: string,
  ) {
    super(message);
    this.name = 'RunNotFoundError';
  }
}

/**
 * A run's journal has a line that is not an event, and it is not a torn last line: something
 * other than runbook changed the file. What that run applied cannot be known for certain.
 */
export class JournalCorruptError extends Error {
  constructor(
    readonly runId: string,
    readonly path: string,
    readonly line: number,
    readonly detail: string,
    /** The events of every line that could be read, for display only (never for rollback). */
    readonly readable: JournalEvent[],
  ) {
    super(`the journal of run ${runId} is damaged: ${path} line ${line} is not a journal event (${detail})`);
    this.name = 'JournalCorruptError';
  }
}

export interface LockHandle {
  release(): Promise<void>;
  /** The lock was left by a holder provably dead on this host (same boot; pid gone or reused) and was taken over: who, and how we know. */
  tookOver?: { holder: LockHolder; why: string };
}

export interface RunSummary {
  runId: string;
  startedAt: string;
  /** Last event's type, e.g. `run.finished`, to spot unfinished runs. */
  lastEvent: string;
  finished: boolean;
}

export interface RunRead {
  events: JournalEvent[];
  /** A torn (partially written) last line was found and ignored. */
  torn: boolean;
}

/** One run's append-only event log. */
export interface RunJournal {
  readonly runId: string;
  /**
   * Records an event. With `durable` (the default) it resolves once the event is on disk
   * (fsynced / committed) together with everything appended before it; without, the event
   * is written but its durability rides on the next durable append.
   */
  append(event: EngineEvent, durable?: boolean): Promise<void>;
  close(): Promise<void>;
}

/**
 * Where runs, their events and the lock live. The file backend (`src/state/file/`) is the
 * default; the PostgreSQL backend implements the same contract. The executor only knows this.
 */
export interface StateStore {
  /** Human description, e.g. the state dir path or a redacted URL. */
  readonly location: string;
  /** Takes the lock or throws LockedError naming the holder. */
  lock(holder: Omit<LockHolder, 'since'>): Promise<LockHandle>;
  /**
   * Current holder, if any (for `status` and `unlock`). `unreadable` says why a lock that is
   * there cannot be read (its holder is then unknown; `unlock --force` clears it).
   */
  lockHolder(): Promise<{ holder: LockHolder; stale: boolean; unreadable?: string } | null>;
  /** Clears the lock; refuses a live one unless `force`. */
  unlock(force: boolean): Promise<LockHolder | null>;
  createRun(runId: string): Promise<RunJournal>;
  /** Reopens an existing run to append (rollback continues the run it undoes). */
  openRun(runId: string): Promise<RunJournal>;
  listRuns(): Promise<RunSummary[]>;
  /**
   * Local fallback journals of this runbook's runs that the backend has not taken yet (only a
   * backend that can fall back has any). apply and rollback refuse while there are some.
   */
  unreconciled?(): Promise<UnreconciledJournal[]>;
  readRun(runId: string): Promise<RunRead>;
  /**
   * The environment of this runbook that holds run `runId`, when the backend keeps several in
   * one place (the file backend's environments are directories: the CLI looks there itself).
   */
  environmentOfRun?(runId: string): Promise<string | undefined>;
  /** Every environment of this runbook that has runs here (the same kind of backend: the file backend's are looked up by the CLI). */
  environmentsWithRuns?(): Promise<string[]>;
  close(): Promise<void>;
}
