/**
 * One multiplexed ssh master per host. Its primary session (run by the host's sh) reports the
 * login directory and bash, takes the host lock, then waits for EOF on its stdin — a pipe from
 * this process. So the master dies with us, even on SIGKILL: the pipe closes, the session ends,
 * the lock is released, and the master exits once its last client is gone.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { BOOTSTRAP_COMMAND, framed } from './bootstrap.js';
import { HostLockedError, HostUnreachableError } from './errors.js';
import { holderLine, parseHolder, takeLock, type HostLockRequest } from './host-lock.js';
import { controlArgs, masterArgs, type SshOptions } from './ssh-options.js';

export interface Hello {
  /** The login directory. */
  workdir: string;
  /** bash's path on the host; undefined when it has none (commands run by sh). */
  bash?: string;
  /** The lock file held, when a lock was asked for. */
  lockPath?: string;
}

export interface Master {
  readonly pid: number;
  readonly hello: Hello;
  /** Why the connection is gone (ssh's last error line), or undefined while it lives. */
  lost(): string | undefined;
  /** Settles when the master process has exited. */
  readonly exited: Promise<void>;
  /** Ends the master (EOF to the primary session, `ssh -O exit`, SIGKILL if need be). */
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 3000;
const SELF_EXIT_MS = 300;

function primaryScript(lock: boolean, reclaimPid?: number): string {
  return [
    'w=$(pwd)',
    'b=$(command -v bash 2>/dev/null) || b=',
    'f=',
    lock ? takeLock(reclaimPid) : '',
    `printf 'runbook-ready\\n%s\\n%s\\n%s\\n' "$w" "$b" "$f"`,
    'exec cat >/dev/null',
    '',
  ].join('\n');
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/\r$/, '').trim())
    .filter(Boolean);
  return lines.at(-1) ?? '';
}

/** `reclaimPid`: the host pid of a session of this same run holding the lock, to end first (HostLockRequest.reclaim). */
export function startMaster(host: string, o: SshOptions, lock: HostLockRequest | undefined, signal?: AbortSignal, reclaimPid?: number): Promise<Master> {
  const child: ChildProcess = spawn('ssh', masterArgs(host, o, BOOTSTRAP_COMMAND), {
    // Its own process group: a Ctrl-C at the terminal must not cut the connection a rollback needs.
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  let gone: string | undefined;
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-8192);
  });
  child.stdin!.on('error', () => {});
  child.stdin!.write(Buffer.concat([framed(primaryScript(lock !== undefined, reclaimPid)), Buffer.from(lock ? `${holderLine(lock)}\n` : '')]));

  let closing = false;
  const stop = async () => {
    closing = true;
    child.stdin!.destroy();
    // Its primary session ends with our pipe, and with it the master once its shells are closed:
    // `ssh -O exit` (one more process) only for a master still there a moment later.
    if (child.exitCode === null && child.signalCode === null) await Promise.race([exited, new Promise((r) => setTimeout(r, SELF_EXIT_MS))]);
    if (child.exitCode === null && child.signalCode === null) {
      execFile('ssh', controlArgs(host, o, 'exit'), { timeout: STOP_GRACE_MS }, () => {});
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
  };

  return new Promise<Master>((resolve, reject) => {
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      cleanup();
      void stop().then(() => reject(error));
    };
    const deadlineMs = o.connectTimeoutMs * 2 + 2000;
    const timer = setTimeout(() => fail(new HostUnreachableError(host, `ssh: no answer within ${Math.round(deadlineMs / 1000)} s`)), deadlineMs);
    const onAbort = () => fail(signal!.reason instanceof Error ? signal!.reason : new Error(String(signal!.reason ?? 'aborted')));
    signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      child.stdout!.off('data', onData);
    };
    const onData = (d: Buffer) => {
      stdout += d.toString('utf8');
      // A login script may print something before us: what counts starts at our marker.
      const all = stdout.split('\n');
      const at = all.findIndex((l) => /^runbook-(ready$|locked |error )/.test(l));
      if (at < 0) return;
      const lines = all.slice(at);
      const head = lines[0];
      if (head?.startsWith('runbook-locked ') && lines.length >= 3) {
        const { holder, remotePid } = parseHolder(lines[1]);
        fail(new HostLockedError(host, holder, head.slice('runbook-locked '.length), remotePid));
      } else if (head?.startsWith('runbook-error ') && lines.length >= 2) {
        fail(new HostUnreachableError(host, head.slice('runbook-error '.length)));
      } else if (head === 'runbook-ready' && lines.length >= 5) {
        settled = true;
        cleanup();
        const [, workdir, bash, lockPath] = lines;
        resolve({
          pid: child.pid!,
          hello: { workdir: workdir!, ...(bash ? { bash } : {}), ...(lockPath ? { lockPath } : {}) },
          lost: () => gone,
          exited,
          stop,
        });
      }
    };
    child.stdout!.on('data', onData);
    child.once('error', (error) => fail(new HostUnreachableError(host, `cannot start ssh: ${error.message}`)));
    child.once('close', (code) => {
      gone = closing ? 'the connection was closed' : lastLine(stderr) || `ssh exited with code ${code}`;
      fail(new HostUnreachableError(host, gone));
    });
    if (signal?.aborted) onAbort();
  });
}
