import { dirname } from 'node:path';
import type { JournalCorruptError } from '../../state/contract.js';

/**
 * What a damaged journal means and what the operator can do, for a refusal (`consequence`
 * says what was not done and why) or a listing.
 */
export function damagedJournal(error: JournalCorruptError, consequence: string, again: string): string {
  return (
    `runbook: ${error.message}.\n` +
    `  runbook writes a journal one event per line, and a crash can only tear its last line; line ${error.line} was changed by something else (an edit, a copy, a disk fault), so what run ${error.runId} applied cannot be read with certainty. ${consequence}\n` +
    `  To go on: look at line ${error.line} of ${error.path}. If it is a stray edit, restore or delete that line (keep a copy of the file first), then run ${again} again. ` +
    `If you know that run's changes are no longer on the system, move the file out of ${dirname(error.path)} (keep it somewhere) and run ${again} again.\n`
  );
}
