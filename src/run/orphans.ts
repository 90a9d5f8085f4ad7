import { setTimeout as sleep } from 'node:timers/promises';
import type { RunState } from '../history/applied-state.js';
import type { StepRef } from '../model/events.js';
import { holderIdentity, sameProcessAlive } from '../support/process-identity.js';
import type { Emitter } from './emitter.js';

const GRACE_MS = 2000;

/**
 * Journals a process a step started, for stopOrphans. Written, not fsynced: the record matters
 * only while the process outlives this run, and a process outlives only the death of this one
 * (kill -9), never the machine's (a power loss or a kernel crash ends it, and its boot id
 * says so). Written records survive a process's death: they are in the page cache, where
 * the rollback reads them. The step's start, fsynced before the step when it must be, stays so.
 */
export function journalProcess(emitter: Emitter, ref: StepRef, pid: number): void {
  void emitter.emit({ type: 'step.process', ...ref, pid, ...holderIdentity(pid) });
}

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
