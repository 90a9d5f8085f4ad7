/** What remote-exec needs of a connection: how to start a client on its master, and whether it lives. */
export interface Channel {
  /** The host as the runbook names it: prefixed to every error. */
  readonly host: string;
  /** ssh's argv (after `ssh`) for a session running `command` over the master. */
  clientArgs(command: string): string[];
  /** bash on the host, if it has one. */
  readonly bash?: string;
  /** Why the master is gone, or undefined while it lives. */
  lost(): string | undefined;
  readonly masterExited: Promise<void>;
  /** A session slot on the connection (sshd's MaxSessions). */
  takeSlot(): Promise<() => void>;
}
