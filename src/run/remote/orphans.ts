import { readFileSync } from 'node:fs';
import { BOOTSTRAP } from './bootstrap.js';

/**
 * Kills an ssh client that a killed run left behind (its pid journaled through
 * ProcessRequest.onSpawn), with the process group it leads — but only if that pid is still
 * one of our session clients (its command line holds our bootstrap), never a pid reused since.
 * True when one was killed. The remote side needs no help: its watchdog ends the command once
 * the channel's stdin (a pipe from the dead run) closes; this only tidies this machine.
 */
export function killOrphanedClient(pid: number): boolean {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  if (!/(^|\/)ssh$/.test(argv[0] ?? '') || !argv.some((a) => a.includes(BOOTSTRAP))) return false;
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
      return true;
    } catch {
      // not a group leader, or gone
    }
  }
  return false;
}
