/** The signals that interrupt a run: Ctrl-C, `kill`, and a dropped terminal or ssh session. */
const INTERRUPTS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface InterruptLevel {
  /** Told to the operator when this level is reached. */
  say: string;
  /** Why the work stopped, as steps and the journal record it. */
  reason: string;
}

/**
 * Successive interrupts abort successive controllers: the first interrupt aborts `levels[0]`,
 * the second `levels[1]`, and so on (later ones are ignored); `say` gets the level's message.
 * Installing these handlers also keeps the default action (exit at once, nothing rolled
 * back) from ever happening while a run is in progress.
 */
export function interruptLevels(messages: InterruptLevel[], say: (text: string) => void): { levels: AbortSignal[]; dispose: () => void } {
  const controllers = messages.map(() => new AbortController());
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    const level = count++;
    if (level >= controllers.length) return;
    say(`\n${signal}: ${messages[level]!.say}\n`);
    controllers[level]!.abort(new Error(`${messages[level]!.reason} (${signal})`));
  };
  for (const s of INTERRUPTS) process.on(s, handler);
  return {
    levels: controllers.map((c) => c.signal),
    dispose: () => {
      for (const s of INTERRUPTS) process.off(s, handler);
    },
  };
}

const STOP_ROLLBACK = 'the running rollback step may finish (killing an undo half-way is worse), then the rollback stops and what is left is reported';

/** Apply: stop and roll back; then let the running undo step finish and stop; then kill it. */
export const APPLY_INTERRUPTS: InterruptLevel[] = [
  { say: 'interrupted: stopping the running step, then rolling back (interrupt again to stop the rollback after its running step)', reason: 'interrupted' },
  { say: `second interrupt: ${STOP_ROLLBACK}; interrupt a third time to kill that step now`, reason: 'rollback interrupted' },
  { say: 'third interrupt: killing the running rollback step; what is left will be reported', reason: 'rollback interrupted' },
];

/** Rollback: let the running undo step finish and stop; then kill it. */
export const ROLLBACK_INTERRUPTS: InterruptLevel[] = [
  { say: `interrupted: ${STOP_ROLLBACK}; interrupt again to kill that step now`, reason: 'rollback interrupted' },
  { say: 'second interrupt: killing the running rollback step; what is left will be reported', reason: 'rollback interrupted' },
];
