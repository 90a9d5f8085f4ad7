import { RunbookInvalidError, UsageError, type Concealed, type Diagnostic } from '../../model/diagnostic.js';
import { JournalCorruptError, LockedError, StateUnavailableError } from '../../state/contract.js';
import { codeFrame, concealMessage } from './code-frame.js';
import { damagedJournal } from './damaged-journal.js';

export function formatDiagnostics(error: RunbookInvalidError): string {
  let out = '';
  for (const d of error.diagnostics) out += formatDiagnostic(d, error.sources.get(d.pos?.file ?? ''), error.concealed);
  const n = error.diagnostics.length;
  return `${out}${n} problem${n === 1 ? '' : 's'} found\n`;
}

/** `file:line:col: message` and the code frame, secrets concealed. */
export function formatDiagnostic(d: Diagnostic, source: string | undefined, concealed: Concealed = { values: [], spans: new Map() }): string {
  const where = d.pos ? `${d.pos.file}:${d.pos.line}:${d.pos.col}: ` : '';
  return `${where}${concealMessage(d.message, concealed)}\n${codeFrame(source, d, concealed)}`;
}

/** Prints an error the operator can act on and returns the exit code (DESIGN.md §5). */
export function reportError(error: unknown, verbose: boolean): number {
  if (error instanceof RunbookInvalidError) {
    process.stderr.write(formatDiagnostics(error));
    return 2;
  }
  if (error instanceof UsageError) {
    process.stderr.write(`runbook: ${error.message}\n`);
    return 2;
  }
  if (error instanceof LockedError) {
    process.stderr.write(`runbook: ${error.message}\n`);
    return 4;
  }
  if (error instanceof JournalCorruptError) {
    process.stderr.write(damagedJournal(error, 'Nothing was changed.', 'the command'));
    return 3;
  }
  if (error instanceof StateUnavailableError) {
    process.stderr.write(`runbook: ${error.message}\n`);
    return 3;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`runbook: internal error: ${message}\n`);
  if (verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return 1;
}
