import type { SessionEnd, ShellRequest } from './host-shell.js';

/** What remote-command and remote-fs need of a connection: a host's shells to run requests on. */
export interface Channel {
  /** The host as the runbook names it: prefixed to every error. */
  readonly host: string;
  /** bash on the host, if it has one. */
  readonly bash?: string;
  /** Runs a request on one of the host's long-lived shell sessions. */
  run(req: ShellRequest): Promise<SessionEnd>;
}
