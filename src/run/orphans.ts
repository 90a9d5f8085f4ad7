import { setTimeout as sleep } from 'node:timers/promises';
import type { RunState } from '../history/applied-state.js';
import { sameProcessAlive } from '../support/process-identity.js';

const GRACE_MS = 2000;

/**
 * A run that died (kill -9, power loss) may have left steps running: their process groups are
 * journaled. Before its rollback, stop those still alive as the same process (pid, start time,
 * boot): SIGTERM to the group, SIGKILL after a grace. For a step on a host the group is its ssh
 * client; ending it closes the channel, and the host's watchdog kills the remote group.
 * Returns one line per process stopped.
 */
export async function stopOrphans(state: RunState): Promise<string[]> {
  const alive = state.openProcesses.filter(sameProcessAlive);
  if (alive.length === 0) return [];
  const signal = (sig: NodeJS.Signals) => {
    for (const p of alive) {
      try {
        process.kill(-p.pid, sig);
      } catch {
        // gone already
      }
    }
  };
  signal('SIGTERM');
  const end = performance.now() + GRACE_MS;
  while (performance.now() < end && alive.some(sameProcessAlive)) await sleep(50);
  if (alive.some(sameProcessAlive)) signal('SIGKILL');
  return alive.map((p) => `stopped a step of the dead run ${state.runId} still running${p.host !== undefined ? ` (its ssh session to ${p.host})` : ''}: ${p.label} (process group ${p.pid})`);
}
