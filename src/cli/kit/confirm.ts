import { createInterface } from 'node:readline/promises';

export function interactive(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY) && !process.env.CI;
}

/**
 * Asks a yes/no question on the terminal; anything but y/yes is no, and so are Ctrl-C at the
 * prompt and an abort of `signal` (an interrupt while the lock is already held).
 */
export async function confirm(question: string, signal?: AbortSignal): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const cancel = new AbortController();
  rl.on('SIGINT', () => cancel.abort());
  const onAbort = () => cancel.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const answer = await rl.question(`${question} [y/N] `, { signal: cancel.signal });
    return /^y(es)?$/i.test(answer.trim());
  } catch {
    process.stdout.write('\n');
    return false;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    rl.close();
  }
}
