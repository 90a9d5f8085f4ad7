import { LockedError, type LockHolder } from '../../state/contract.js';

/**
 * A host could not be reached (refused, no route, timeout, auth failure, unknown host key):
 * one line, the host and ssh's own words, e.g.
 * `web-2: ssh: connect to host 127.0.0.13 port 22: Connection refused`.
 */
export class HostUnreachableError extends Error {
  readonly host: string;
  /** ssh's own error line. */
  readonly reason: string;
  constructor(host: string, reason: string) {
    super(`${host}: ${reason}`);
    this.name = 'HostUnreachableError';
    this.host = host;
    this.reason = reason;
  }
}

/** Another run holds the host lock (exit 4, like the state lock it extends). */
export class HostLockedError extends LockedError {
  readonly hostName: string;
  /** The pid, on the host, of the session holding the lock. */
  readonly remotePid?: number;
  constructor(hostName: string, holder: LockHolder, lockPath: string, remotePid?: number) {
    const who = [
      holder.runId ? `run ${holder.runId}` : undefined,
      `pid ${holder.pid} on ${holder.host}`,
      `user ${holder.user}`,
      `since ${holder.since}`,
      holder.command ? `command: ${holder.command}` : undefined,
    ]
      .filter(Boolean)
      .join(', ');
    super(holder, false, `${hostName} is locked by another run: ${who} (host lock ${lockPath}, held for as long as that run's ssh connection lives)`);
    this.name = 'HostLockedError';
    this.hostName = hostName;
    if (remotePid !== undefined) this.remotePid = remotePid;
  }
}
