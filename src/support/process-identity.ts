import { readFileSync } from 'node:fs';

/** Whether the process runs. A zombie (killed, not yet reaped by its parent) does not: it holds nothing any more. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/** Linux: the state field of /proc/<pid>/stat, after the command name (which may hold spaces and parentheses). */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

let thisBoot: { id: string | undefined } | undefined;

/** This machine's boot id (Linux); undefined where there is none. Read once: a process never outlives its boot. */
export function bootId(): string | undefined {
  thisBoot ??= { id: readBootId() };
  return thisBoot.id;
}

function readBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A process's start time in clock ticks since boot (/proc/PID/stat field 22); undefined when there is no such process (or no /proc). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the command name (which may hold spaces and parentheses): state is field 3, starttime field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** What a lock record says about its own process, for the record: boot and start time. */
export function holderIdentity(pid: number): { boot?: string; startTime?: string } {
  const boot = bootId();
  const startTime = processStartTime(pid);
  return { ...(boot ? { boot } : {}), ...(startTime ? { startTime } : {}) };
}

/** Whether the process recorded as (pid, start time, boot) is still that process, running. */
export function sameProcessAlive(p: { pid: number; startTime?: string; boot?: string }): boolean {
  if (p.boot !== undefined && p.boot !== bootId()) return false;
  if (!pidAlive(p.pid)) return false;
  return p.startTime === undefined || processStartTime(p.pid) === p.startTime;
}
