import type { EngineEvent, EventListener, JournalEvent } from '../model/events.js';
import { redactDeep, type OutputRedactor, type Redactor } from '../secrets/redact.js';
import type { RunJournal, SnapshotStore } from '../state/contract.js';
import { storeSnapshots } from './snapshots.js';

type OutputEvent = Extract<EngineEvent, { type: 'step.output' }>;

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
  /** Step output is redacted as a stream (a secret may be split across chunks); flushed before the next other event. */
  private readonly outputs = new Map<string, { stream: OutputRedactor; event: OutputEvent }>();

  constructor(
    private readonly journal: RunJournal | undefined,
    private readonly listeners: EventListener[],
    private readonly redact: Redactor & { stream?(): OutputRedactor },
  ) {}

  /** Where the run's snapshots are read back from for a rollback (none without a journal). */
  get snapshots(): SnapshotStore | undefined {
    return this.journal?.snapshots;
  }

  /** Hosts of a batch run in parallel: their events still reach the journal and the renderers one at a time, in the order emitted. */
  private queue: Promise<void> = Promise.resolve();

  emit(event: EngineEvent, durable = false): Promise<void> {
    const next = this.queue.then(() => this.emitNow(event, durable));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async emitNow(event: EngineEvent, durable: boolean): Promise<void> {
    if (event.type === 'step.output' && this.redact.stream) {
      const key = `${event.phase}\0${event.changeId ?? ''}\0${event.index}\0${event.host ?? ''}`;
      const output = this.outputs.get(key) ?? { stream: this.redact.stream(), event };
      this.outputs.set(key, { ...output, event });
      const chunk = output.stream.push(event.chunk);
      if (chunk !== '') await this.deliver({ ...redactDeep({ ...event, chunk: '' }, this.redact), chunk });
      return;
    }
    // Another host's events do not end this host's output: a secret split across its chunks stays whole.
    const host = 'host' in event ? event.host : undefined;
    for (const [key, { stream, event: last }] of [...this.outputs]) {
      if (host !== undefined && last.host !== host) continue;
      this.outputs.delete(key);
      const rest = stream.end();
      if (rest !== '') await this.deliver({ ...redactDeep({ ...last, chunk: '' }, this.redact), chunk: rest });
    }
    let clean = redactDeep(event, this.redact);
    // Snapshots an inverse needs go to the owner-only store (durably), the journal and the renderers get their digests.
    if (clean.type === 'step.started' && clean.inverse && this.journal) clean = { ...clean, inverse: await storeSnapshots(clean.inverse, this.journal.snapshots) };
    if (clean.type !== 'step.output') {
      if (this.journal) await this.journal.append(clean, durable);
      this.events.push({ ...clean, seq: this.seq++, at: new Date().toISOString() });
    }
    await this.deliver(clean);
  }

  private async deliver(clean: EngineEvent): Promise<void> {
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
