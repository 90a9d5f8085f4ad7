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

/**
 * A snapshot an inverse needs cannot be read back: not in the store (`missing`), or what is
 * stored does not decompress to bytes with its digest (`damaged`).
 */
export class SnapshotUnavailableError extends Error {
  constructor(
    readonly digest: string,
    readonly problem: 'missing' | 'damaged',
    readonly location: string,
    readonly detail?: string,
  ) {
    super(`snapshot ${digest} is ${problem === 'missing' ? 'missing from' : 'damaged in'} ${location}${detail ? ` (${detail})` : ''}`);
    this.name = 'SnapshotUnavailableError';
  }
}

/**
 * Owner-only storage for the bytes inverses need (src/model/snapshot.ts), out of the journal:
 * content-addressed by sha256, compressed, each content stored once. Lives beside the journal
 * (a directory of the state dir, a table of the state schema).
 */
export interface SnapshotStore {
  /** Where, for messages: a directory, or a table. */
  readonly location: string;
  /**
   * Keeps `bytes` and returns their digest (`sha256:<hex>`). Durable when it resolves (file and
   * directory fsynced, or committed), so an event referencing it may be appended next. Bytes
   * already stored are not stored again.
   */
  put(bytes: Buffer): Promise<string>;
  /** The bytes stored under `digest`; SnapshotUnavailableError when missing or damaged. */
  get(digest: string): Promise<Buffer>;
  /** Every digest stored. */
  list(): Promise<string[]>;
  /** Removes these snapshots (durably); digests not stored are ignored. */
  remove(digests: string[]): Promise<void>;
}

/** One run's append-only event log. */
export interface RunJournal {
  readonly runId: string;
  /** Where this run's snapshots go (and are read from): stored before the event referencing them is appended. */
  readonly snapshots: SnapshotStore;
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
  /** Deletes a run and its events for good (`history --prune`; the caller decides which runs may go). */
  removeRun(runId: string): Promise<void>;
  /** The snapshots of this runbook state's runs (the caller decides which are no longer needed). */
  readonly snapshots: SnapshotStore;
  /**
   * The environment of this runbook that holds run `runId`, when the backend keeps several in
   * one place (the file backend's environments are directories: the CLI looks there itself).
   */
  environmentOfRun?(runId: string): Promise<string | undefined>;
  /** Every environment of this runbook that has runs here (the same kind of backend: the file backend's are looked up by the CLI). */
  environmentsWithRuns?(): Promise<string[]>;
  close(): Promise<void>;
}
