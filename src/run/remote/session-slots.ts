/**
 * sshd refuses more than MaxSessions (10 by default) sessions on one connection, the primary
 * one included: sessions past the limit wait for a slot here instead of failing.
 */
export const MAX_SESSIONS = 8;

export class SessionSlots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max = MAX_SESSIONS) {}

  /** Resolves with the function that gives the slot back. */
  async take(): Promise<() => void> {
    if (this.used >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.used++;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.used--;
    };
  }
}
