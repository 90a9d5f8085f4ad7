/**
 * One long-lived shell session on a host, multiplexed over its master and fed request after
 * request (shell-script.ts): a step or a file operation costs no new ssh session. One request
 * at a time (the pool hands a shell to one caller). Our stdin is the session's lifeline: when
 * it closes — we close it, our ssh client dies, or this process dies — the host kills the
 * running step's group and the session.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { StepFailedError } from '../../steps/contract.js';
import { BOOTSTRAP_COMMAND, framed } from './bootstrap.js';
import { MarkerSplit } from './marker-split.js';
import { fileRequest, sessionScript, stepRequest } from './shell-script.js';

/** What a shell needs of its connection. */
export interface ShellLink {
  /** The host as the runbook names it: prefixed to every error. */
  readonly host: string;
  /** ssh's argv (after `ssh`) for a session running `command` over the master. */
  clientArgs(command: string): string[];
  /** Why the master is gone, or undefined while it lives. */
  lost(): string | undefined;
  readonly masterExited: Promise<void>;
}

export interface ShellRequest {
  /** `step`: in a process group of its own, killable through `signal`; `file`: in a subshell of the session. */
  kind: 'step' | 'file';
  script: string;
  /** A step's stdin (its bytes exactly, then EOF); a file operation's bytes, read by its script. */
  input?: Buffer;
  signal?: AbortSignal;
  /** Told the pid of the local ssh client carrying the step (journaled for orphan clean-up). */
  onSpawn?: (pid: number) => void;
  onData?: (which: 'out' | 'err', data: Buffer) => void;
}

export interface SessionEnd {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the request failed because the connection is gone: ssh's reason. */
  connectionLost?: string;
}

interface Pending {
  out(data: Buffer): void;
  err(data: Buffer): void;
  closed(end: SessionEnd): void;
}

/** How long to wait for the master to report itself gone once a session ended unexpectedly. */
const LOST_CHECK_MS = 200;

export class HostShell {
  private pending: Pending | undefined;
  private ended: SessionEnd | undefined;
  private readonly out: MarkerSplit;
  private readonly err: MarkerSplit;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly link: ShellLink,
    private readonly child: ChildProcess,
    nonce: string,
  ) {
    this.out = MarkerSplit.forStdout(nonce);
    this.err = MarkerSplit.forStderr(nonce);
    child.stdout!.on('data', (d: Buffer) => this.pending?.out(d));
    child.stderr!.on('data', (d: Buffer) => this.pending?.err(d));
    child.stdin!.on('error', () => {});
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.once('close', (exitCode, signal) => void this.onClose(exitCode, signal));
  }

  /** Opens a session and waits for its first marker (what a login script printed before it is dropped). */
  static async start(link: ShellLink): Promise<HostShell> {
    const lost = link.lost();
    if (lost !== undefined) throw new StepFailedError(`${link.host}: connection lost: ${lost}`);
    const nonce = randomBytes(16).toString('hex');
    const child = spawn('ssh', link.clientArgs(BOOTSTRAP_COMMAND), { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const shell = new HostShell(link, child, nonce);
    const said: Buffer[] = [];
    const started = new Promise<SessionEnd>((resolve, reject) => {
      child.once('error', (error) => reject(new StepFailedError(`${link.host}: cannot start ssh: ${error.message}`)));
      shell.expect({ kind: 'file', script: '', onData: (_, d) => said.push(d) }, resolve);
    });
    child.stdin!.write(framed(sessionScript(nonce)));
    const end = await started;
    if (end.connectionLost !== undefined) throw new StepFailedError(`${link.host}: connection lost: ${end.connectionLost}`);
    if (end.exitCode !== 0) {
      const why = Buffer.concat(said).toString('utf8').trim().split('\n').at(-1)?.trim();
      throw new StepFailedError(`${link.host}: cannot start a shell session: ${why || `ssh exited with code ${end.exitCode}`}`);
    }
    return shell;
  }

  get alive(): boolean {
    return this.ended === undefined;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Runs one request; settles with its exit code once its output has ended on both streams. */
  run(req: ShellRequest): Promise<SessionEnd> {
    if (this.pending) throw new Error('a host shell runs one request at a time');
    if (this.ended) return Promise.resolve(this.ended);
    if (req.kind === 'step' && req.signal?.aborted) return Promise.resolve({ exitCode: null, signal: null });
    return new Promise((resolve) => {
      if (req.kind === 'step' && this.child.pid !== undefined) req.onSpawn?.(this.child.pid);
      this.child.stdin!.write(req.kind === 'step' ? stepRequest(req.script, req.input ?? Buffer.alloc(0)) : fileRequest(req.script, req.input));
      // After the request: an abort is a line the step's watcher reads.
      this.expect(req, resolve);
    });
  }

  /** Ends the session (EOF on its stdin); settles when the ssh client has exited. */
  async close(): Promise<void> {
    this.child.stdin!.end();
    await this.exited;
  }

  private expect(req: ShellRequest, resolve: (end: SessionEnd) => void): void {
    let code: number | undefined;
    let errDone = false;
    const onAbort = () => {
      if (this.pending === pending) this.child.stdin!.write('k\n');
    };
    if (req.kind === 'step') req.signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (end: SessionEnd) => {
      req.signal?.removeEventListener('abort', onAbort);
      this.pending = undefined;
      resolve(end);
    };
    const done = () => {
      if (code === undefined || !errDone) return;
      // Ends the step's watcher on the host, before any next request.
      if (req.kind === 'step') this.child.stdin!.write('.\n');
      settle({ exitCode: code, signal: null });
    };
    const pending: Pending = {
      out: (d) => {
        const s = this.out.push(d);
        if (s.data.length > 0) req.onData?.('out', s.data);
        if (s.end) {
          code = s.end.code;
          done();
        }
      },
      err: (d) => {
        const s = this.err.push(d);
        if (s.data.length > 0) req.onData?.('err', s.data);
        if (s.end) {
          errDone = true;
          done();
        }
      },
      closed: settle,
    };
    this.pending = pending;
    if (req.kind === 'step' && req.signal?.aborted) onAbort();
  }

  private async onClose(exitCode: number | null, signal: NodeJS.Signals | null): Promise<void> {
    // 255: ssh's own failure — the master gone, or going: the master tells which.
    if (exitCode === 255 && this.link.lost() === undefined) {
      await Promise.race([this.link.masterExited, new Promise((r) => setTimeout(r, LOST_CHECK_MS))]);
    }
    const lost = this.link.lost();
    this.ended = { exitCode, signal, ...(lost !== undefined ? { connectionLost: lost } : {}) };
    this.pending?.closed(this.ended);
  }
}
