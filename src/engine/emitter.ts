import type { RunJournal } from '../state/contract.js';
import type { EngineEvent, EventListener, JournalEvent } from './events.js';
import { redactDeep, type Redactor } from './redact.js';

/**
 * The one event stream: every event is redacted once, appended to the journal (durably
 * when the work it announces must not start before it is on disk), then handed to the
 * renderers. Also keeps the run's events in memory for the final report.
 */
export class Emitter {
  readonly events: JournalEvent[] = [];
  /** Listeners that threw were dropped: a broken display must never stop an apply or a rollback. */
  readonly listenerErrors: Error[] = [];
  private seq = 0;

  constructor(
    private readonly journal: RunJournal | undefined,
    private readonly listeners: EventListener[],
    private readonly redact: Redactor,
  ) {}

  async emit(event: EngineEvent, durable = false): Promise<void> {
    const clean = redactDeep(event, this.redact);
    if (clean.type !== 'step.output') {
      if (this.journal) await this.journal.append(clean, durable);
      this.events.push({ ...clean, seq: this.seq++, at: new Date().toISOString() });
    }
    for (const listener of [...this.listeners]) {
      try {
        await listener(clean);
      } catch (error) {
        this.listeners.splice(this.listeners.indexOf(listener), 1);
        this.listenerErrors.push(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }
}
