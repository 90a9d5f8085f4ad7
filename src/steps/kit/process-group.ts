const KILL_GRACE_MS = 2000;

/** Signals a whole process group (a step's command and everything it started). */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  try {
    if (pid !== undefined) process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

/**
 * On abort (timeout or interrupt), SIGTERM the group, then SIGKILL what is left after a grace
 * period. Returns the function that stops watching.
 */
export function killGroupOnAbort(signal: AbortSignal, pid: () => number | undefined): () => void {
  const onAbort = () => {
    killGroup(pid(), 'SIGTERM');
    setTimeout(() => killGroup(pid(), 'SIGKILL'), KILL_GRACE_MS).unref();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}
