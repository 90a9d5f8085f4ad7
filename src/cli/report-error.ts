import { RunbookInvalidError, UsageError, type Diagnostic } from '../model/diagnostic.js';
import { JournalCorruptError, LockedError, StateUnavailableError } from '../state/contract.js';
import { damagedJournal } from './damaged-journal.js';

function codeFrame(source: string | undefined, d: Diagnostic): string {
  if (!source || !d.pos) return '';
  const lines = source.split('\n');
  const line = lines[d.pos.line - 1];
  if (line === undefined) return '';
  const gutter = String(d.pos.line).length;
  const text = line.replace(/\t/g, ' ').replace(/\r$/, '').slice(0, 200);
  const caret = ' '.repeat(Math.max(0, Math.min(d.pos.col - 1, text.length)));
  return `  ${String(d.pos.line).padStart(gutter)} | ${text}\n  ${' '.repeat(gutter)} | ${caret}^\n`;
}

export function formatDiagnostics(error: RunbookInvalidError): string {
  let out = '';
  for (const d of error.diagnostics) {
    const where = d.pos ? `${d.pos.file}:${d.pos.line}:${d.pos.col}: ` : '';
    out += `${where}${d.message}\n${codeFrame(d.pos ? error.sources.get(d.pos.file) : undefined, d)}`;
  }
  const n = error.diagnostics.length;
  return `${out}${n} problem${n === 1 ? '' : 's'} found\n`;
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
