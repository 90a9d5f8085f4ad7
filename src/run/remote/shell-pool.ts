/**
 * A host's shell sessions (host-shell.ts): a request takes an idle one, or opens one more while
 * fewer than MAX_SESSIONS are open (sshd's MaxSessions is 10 by default, the master's primary
 * session included), or waits for one. Steps of one host mostly run one after another, so
 * one shell is the rule; a watch window's verify or a rollback beside a step gets a second.
 */
import { HostShell, type SessionEnd, type ShellLink, type ShellRequest } from './host-shell.js';

export const MAX_SESSIONS = 8;

export class ShellPool {
  private readonly idle: HostShell[] = [];
  private readonly open = new Set<HostShell>();
  private readonly waiting: (() => void)[] = [];
  private opening = 0;
  private closed = false;

  constructor(
    private readonly link: ShellLink,
    private readonly max = MAX_SESSIONS,
  ) {}

  async run(req: ShellRequest): Promise<SessionEnd> {
    const lost = this.link.lost();
    if (lost !== undefined) return { exitCode: null, signal: null, connectionLost: lost };
    const shell = await this.take();
    try {
      return await shell.run(req);
    } finally {
      this.give(shell);
    }
  }

  /** Opens the first shell ahead of the first request; a failure is the first request's to report. */
  warm(): void {
    this.take().then(
      (shell) => this.give(shell),
      () => {},
    );
  }

  /** Ends every shell (idle ones now, busy ones when their request ends). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.open].map((shell) => shell.close()));
  }

  private async take(): Promise<HostShell> {
    for (;;) {
      const shell = this.idle.pop();
      if (shell?.alive) return shell;
      if (shell) {
        this.open.delete(shell);
        continue;
      }
      if (this.open.size + this.opening < this.max) return this.openOne();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private async openOne(): Promise<HostShell> {
    this.opening++;
    try {
      const shell = await HostShell.start(this.link);
      this.open.add(shell);
      return shell;
    } finally {
      this.opening--;
      this.waiting.shift()?.();
    }
  }

  private give(shell: HostShell): void {
    if (!shell.alive || this.closed) {
      this.open.delete(shell);
      if (this.closed) void shell.close();
    } else {
      this.idle.push(shell);
    }
    this.waiting.shift()?.();
  }
}
