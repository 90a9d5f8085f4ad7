export interface ProcessRequest {
  /** A shell string (run by bash with pipefail) … */
  command?: string;
  /** … and how it is shown in messages, when that differs. */
  shown?: string;
  /** … or an argv array run directly. */
  argv?: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  onOutput?: (chunk: string) => void;
  input?: string;
  /** Keep full stdout/stderr (for expectations); otherwise only the tail. */
  capture?: boolean;
  /** With `capture`: how many characters of each stream to keep (default 1 MiB); the rest is dropped. */
  captureLimit?: number;
  /**
   * Called once the local child has started, with its pid (the command here; the ssh client
   * for a host), so a journal can record it and a later rollback can kill an orphan of a killed run.
   */
  onSpawn?: (pid: number) => void;
}

export interface ProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  tail: string;
}

/** What a path holds, read either as the entry itself (a symlink stays a symlink) or through links. */
export type Entry =
  | { kind: 'absent' }
  | { kind: 'file'; bytes: Buffer; mode: number; uid: number; gid: number }
  | { kind: 'symlink'; target: string; uid: number; gid: number };

export interface Owner {
  uid: number;
  gid: number;
}

/** A path's type and metadata, without its content; undefined when nothing is there. */
export interface PathInfo {
  kind: 'file' | 'directory' | 'symlink' | 'other';
  /** A regular file's size in bytes (nothing else has one). */
  size?: number;
  mode: number;
  uid: number;
  gid: number;
}

/**
 * Where a step acts: this machine, or a host reached over ssh. Steps touch the system only
 * through it, so one step module runs anywhere. Every method throws StepFailedError with a
 * message an operator can act on; a remote one adds the host.
 */
export interface Target {
  /** `local`, or the host as the runbook names it (its ssh destination). */
  readonly name: string;
  readonly remote: boolean;
  /** Where a step without `cwd` runs: the runbook's directory here, the login directory on a host. */
  workdir(): Promise<string>;
  /** Resolves a step's path against a directory of this target. */
  resolve(dir: string, path: string): string;
  /**
   * Runs a command in its own process group; an abort of `req.signal` kills the group (on a
   * host too). `req.env` is the step context's `env`: here the whole environment; on a host only
   * what the step adds to the login environment, passed over the channel, never on a command line.
   */
  exec(req: ProcessRequest): Promise<ProcessResult>;
  /** A regular file's bytes; undefined when nothing is there. Anything else (a FIFO, a directory) is refused unread. */
  readFile(path: string): Promise<Buffer | undefined>;
  readEntry(path: string, follow: boolean): Promise<Entry>;
  info(path: string, follow: boolean): Promise<PathInfo | undefined>;
  /**
   * Replaces `path` so that a crash leaves the old bytes or the new ones (temp file beside it,
   * fsync, rename, fsync of the directory); keeps mode and owner unless given; writes through a symlink.
   */
  writeFile(path: string, bytes: Buffer, mode?: number, owner?: Owner): Promise<void>;
  /** Deletes the entry (a symlink itself) durably; false when nothing was there. */
  remove(path: string): Promise<boolean>;
  /** Creates or replaces a symlink atomically. */
  placeSymlink(path: string, target: string, owner: Owner): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  /** Gives the path to an owner; false when not permitted (not root). */
  chown(path: string, owner: Owner): Promise<boolean>;
  /** Bytes free to unprivileged users on the filesystem holding `path`. */
  freeBytes(path: string): Promise<number>;
  /** The program's path as the target's PATH finds it (`pathVar` overrides that PATH locally). */
  findProgram(name: string, pathVar?: string): Promise<string | undefined>;
  /**
   * A host only: a local TCP port on 127.0.0.1 that reaches `to` as the host sees it — a
   * `host:port` or a unix socket path — through the connection (`ssh -L` over the master).
   * For libraries that speak to a service themselves (pg).
   */
  forward?(to: string): Promise<{ port: number; close(): Promise<void> }>;
  /** Values of environment variables as a command started on the target sees them (merged with `env`). */
  environment(names: string[], env: Record<string, string | undefined>): Promise<Record<string, string | undefined>>;
}
