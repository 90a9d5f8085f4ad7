/**
 * First SIGINT/SIGTERM aborts the apply (the running step's process group is killed, then
 * rollback per policy); a second aborts the rollback, which then reports what is left.
 */
export function interruptControllers(onSecond: () => void): { apply: AbortController; rollback: AbortController; dispose: () => void } {
  const apply = new AbortController();
  const rollback = new AbortController();
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) apply.abort(new Error(`interrupted (${signal})`));
    else {
      rollback.abort(new Error(`rollback interrupted (${signal})`));
      onSecond();
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    apply,
    rollback,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
