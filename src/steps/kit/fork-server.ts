import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { StepFailedError } from '../contract.js';
import { FORK_SERVER_SCRIPT } from './fork-server-script.js';
import { OutputCollector } from './output-collector.js';
import { abortError, commandText, runProcess } from './process.js';
import { killGroup, killGroupOnAbort } from './process-group.js';
import type { ProcessRequest, ProcessResult } from './target.js';

const PERL = '/usr/bin/perl';

/** A child forked ahead: its pid, and its start time when the server could read it. */
interface Child {
  pid: number;
  startTime?: string;
}

function childOf(body: Buffer): Child {
  const [pid, startTime] = body.toString('latin1').split(' ');
  return { pid: Number(pid), ...(startTime ? { startTime } : {}) };
}

interface Exchange {
  frame(type: string, body: Buffer): void;
  gone(reason: string): void;
}

/**
 * A small Perl process that forks the steps' commands for this one: forking it costs a
 * fraction of forking Node (whose page tables are far larger), and it forks each child ahead,
 * while the previous command runs. One command at a time; it exits when runbook's process
 * ends (its stdin closes). The protocol is in fork-server-script.ts.
 */
class ForkServer {
  private readonly child: ChildProcess;
  private readonly stdin: Writable;
  private readonly stdout: Readable;
  private pending: Buffer = Buffer.alloc(0);
  private exchange: Exchange | undefined;
  /** The child forked ahead once the server has said it; undefined when a fork failed. */
  private ready: Promise<Child | undefined>;
  private readyNow: ((child: Child | undefined) => void) | undefined;
  busy = false;

  constructor() {
    // An empty environment: the user's PERL5OPT or PERL5LIB must not change the server; each command gets its own.
    this.child = spawn(PERL, ['-e', FORK_SERVER_SCRIPT], { env: {}, stdio: ['pipe', 'pipe', 'ignore'] });
    this.stdin = this.child.stdin!;
    this.stdout = this.child.stdout!;
    this.ready = this.nextReady();
    this.stdin.on('error', () => {});
    this.stdout.on('data', (data: Buffer) => this.read(data));
    this.child.on('error', (error) => this.lost(error.message));
    this.child.on('exit', (code, signal) => this.lost(`it exited (${signal ?? `code ${code}`})`));
    this.idle();
  }

  private nextReady(): Promise<Child | undefined> {
    return new Promise((resolve) => (this.readyNow = resolve));
  }

  /** Takes the server for one command: the child it will run in, or undefined (then nothing is held). */
  async claim(): Promise<Child | undefined> {
    this.busy = true;
    // While a command runs, this process must stay alive for it; idle, the server must not keep it alive.
    this.child.ref();
    (this.stdout as Readable & { ref(): void }).ref();
    const child = await this.ready;
    if (child === undefined) this.release();
    return child;
  }

  /** Runs the command in the child claimed; the server forks the next one ahead meanwhile. */
  run(exchange: Exchange, request: Buffer): void {
    this.exchange = exchange;
    this.ready = this.nextReady();
    const head = Buffer.alloc(5);
    head.write('r', 0, 'latin1');
    head.writeUInt32BE(request.length, 1);
    this.stdin.write(Buffer.concat([head, request]));
  }

  release(): void {
    this.exchange = undefined;
    this.busy = false;
    this.idle();
  }

  private idle(): void {
    this.child.unref();
    (this.stdout as Readable & { unref(): void }).unref();
    (this.stdin as Writable & { unref?(): void }).unref?.();
  }

  private read(data: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, data]) : data;
    while (this.pending.length >= 5) {
      const length = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + length) break;
      const type = String.fromCharCode(this.pending[0]!);
      const body = this.pending.subarray(5, 5 + length);
      this.pending = this.pending.subarray(5 + length);
      if (type === 'p' || type === 'f') this.readyNow?.(type === 'p' ? childOf(body) : undefined);
      else this.exchange?.frame(type, body);
    }
  }

  private lost(reason: string): void {
    if (server === this) server = undefined;
    this.readyNow?.(undefined);
    const exchange = this.exchange;
    this.exchange = undefined;
    exchange?.gone(reason);
  }
}

let server: ForkServer | undefined;
let hasPerl: boolean | undefined;

/** The idle fork server, started on first use; undefined without Perl or while it runs another command. */
function idleServer(): ForkServer | undefined {
  hasPerl ??= executable(PERL);
  if (!hasPerl) return undefined;
  server ??= new ForkServer();
  return server.busy ? undefined : server;
}

/** Starts the fork server now (Perl compiling its program while the runbook loads), so that it is ready by the first step. */
export function prestartForkServer(): void {
  idleServer();
}

function executable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Steps mostly share one environment object: it is encoded once. */
const encodedEnvs = new WeakMap<NodeJS.ProcessEnv, string>();

function encodedEnv(env: NodeJS.ProcessEnv): string {
  let text = encodedEnvs.get(env);
  if (text === undefined) {
    text = '';
    for (const [name, value] of Object.entries(env)) if (value !== undefined) text += `\0${name}=${value}`;
    encodedEnvs.set(env, text);
  }
  return text;
}

/** The request frame: cwd, argc, argv, then the whole environment, NUL-separated as exec takes them. */
function requestOf(file: string, args: string[], req: ProcessRequest): Buffer {
  return Buffer.from([req.cwd, String(args.length + 1), file, ...args].join('\0') + encodedEnv(req.env), 'utf8');
}

const signalNames = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));
const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/**
 * Runs one command in a session and process group of its own, like runProcess, started by the
 * fork server. Its pid is known before it runs, and `onSpawn` is awaited before it is sent:
 * whoever journals the pid has done so before the command can do anything. A command with
 * stdin, or one asked for while another still runs (a step abandoned after its timeout), is
 * started by runProcess instead, as is every command where there is no Perl.
 */
export async function runLocally(req: ProcessRequest): Promise<ProcessResult> {
  const forkServer = req.input === undefined ? idleServer() : undefined;
  const child = await forkServer?.claim();
  if (!forkServer || child === undefined) return runProcess(req);
  const { pid } = child;
  const [file, args] = req.command !== undefined ? ['/bin/bash', ['-o', 'pipefail', '-c', req.command]] : [req.argv![0]!, req.argv!.slice(1)];
  const shown = commandText(req);
  const failed = (message: string, tail = '') => new StepFailedError(message, { command: shown, exitCode: null, outputTail: tail });
  if (req.signal.aborted) {
    forkServer.release();
    throw abortError(req.signal, shown, '');
  }
  try {
    await req.onSpawn?.(pid, child.startTime);
  } catch (error) {
    forkServer.release();
    throw failed(`the command was not run: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (req.signal.aborted) {
    forkServer.release();
    throw abortError(req.signal, shown, '');
  }
  return new Promise((resolve, reject) => {
    const output = new OutputCollector(req);
    const stopWatching = killGroupOnAbort(req.signal, () => pid);
    const ended = (status: number, errno: number | undefined) => {
      forkServer.release();
      stopWatching();
      const tail = output.tail.toString();
      if (req.signal.aborted) {
        // The leader exited; make sure nothing of its group lingers.
        killGroup(pid, 'SIGKILL');
        return reject(abortError(req.signal, shown, tail));
      }
      if (errno !== undefined) {
        const code = errnoNames.get(errno) ?? `errno ${errno}`;
        return reject(failed(code === 'ENOENT' ? `command not found: ${file}` : `spawn ${file} ${code}`, tail));
      }
      const signal = status & 0x7f;
      resolve({ exitCode: signal === 0 ? status >> 8 : null, signal: signal === 0 ? null : (signalNames.get(signal) ?? 'SIGKILL'), stdout: output.stdout, stderr: output.stderr, tail });
    };
    forkServer.run(
      {
        frame(type, body) {
          if (type === 'o' || type === 'e') output.push(type === 'o' ? 'out' : 'err', body);
          else if (type === 'x') {
            const [status, errno] = body.toString('latin1').split(' ');
            ended(Number(status), errno ? Number(errno) : undefined);
          } else if (type === 'n') {
            forkServer.release();
            stopWatching();
            reject(failed(body.toString('utf8')));
          }
        },
        gone(reason) {
          stopWatching();
          killGroup(pid, 'SIGKILL');
          reject(failed(`the process that starts commands stopped: ${reason}`, output.tail.toString()));
        },
      },
      requestOf(file, args, req),
    );
  });
}
