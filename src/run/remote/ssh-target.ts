/**
 * A host as a Target: one ssh master (with the host lock), and every exec and file operation
 * a request to a long-lived shell session multiplexed over it (shell-pool.ts).
 */
import type { Target } from '../../steps/kit/target.js';
import type { Channel } from './channel.js';
import { controlPathIn } from './control-dir.js';
import { HostLockedError } from './errors.js';
import type { HostLockRequest } from './host-lock.js';
import { forwardPort } from './port-forward.js';
import { remoteExec } from './remote-command.js';
import { remoteFs, resolveRemote } from './remote-fs.js';
import { ShellPool } from './shell-pool.js';
import { startMaster } from './ssh-master.js';
import { checkDestination, clientArgs, type SshOptions } from './ssh-options.js';

export interface ConnectOptions {
  /** `--ssh-config`: passed to every ssh as `-F`. */
  sshConfig?: string;
  /** A private directory (0700, created if missing) for the control socket. */
  controlDir: string;
  /** ssh's ConnectTimeout; the whole connect gives up after twice that plus 2 s. Default 10 s. */
  connectTimeoutMs?: number;
  /** Take the host lock as this run (default: no lock). */
  lock?: HostLockRequest | false;
  signal?: AbortSignal;
}

export interface HostConnection {
  target: Target;
  /** The host lock file on the host, when held. */
  lockPath?: string;
  controlPath: string;
  /** The local ssh master's pid. */
  masterPid: number;
  /** Why the connection is gone (ssh's last error line), or undefined while it lives. */
  lost(): string | undefined;
  /** Ends the master and with it the lock; leaves no process behind. */
  close(): Promise<void>;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Connects to `host` (an ssh destination or ssh_config alias) with the system ssh client.
 * Throws HostUnreachableError (one line: the host and ssh's own error) or HostLockedError.
 */
export async function connectHost(host: string, options: ConnectOptions): Promise<HostConnection> {
  checkDestination(host);
  const ssh: SshOptions = {
    controlPath: controlPathIn(options.controlDir),
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    ...(options.sshConfig ? { sshConfig: options.sshConfig } : {}),
  };
  const lock = options.lock || undefined;
  const master = await startMaster(host, ssh, lock, options.signal).catch((error: unknown) => {
    // The lock held by a session of this very run whose control node died: its rollback takes it over.
    if (lock?.reclaim && error instanceof HostLockedError && error.holder.runId === lock.runId && error.remotePid !== undefined) {
      return startMaster(host, ssh, lock, options.signal, error.remotePid);
    }
    throw error;
  });
  const shells = new ShellPool({ host, clientArgs: (command) => clientArgs(host, ssh, command), lost: master.lost, masterExited: master.exited });
  shells.warm();
  const channel: Channel = {
    host,
    ...(master.hello.bash ? { bash: master.hello.bash } : {}),
    run: (req) => shells.run(req),
  };
  const target: Target = {
    name: host,
    remote: true,
    workdir: async () => master.hello.workdir,
    resolve: resolveRemote,
    exec: (req) => remoteExec(channel, req),
    forward: (to) => forwardPort(host, ssh, to),
    ...remoteFs(channel),
  };
  return {
    target,
    ...(master.hello.lockPath ? { lockPath: master.hello.lockPath } : {}),
    controlPath: ssh.controlPath,
    masterPid: master.pid,
    lost: master.lost,
    close: async () => {
      await Promise.all([shells.close(), master.stop()]);
    },
  };
}
