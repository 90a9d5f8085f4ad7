import type { FileParams } from './file-params.js';

/**
 * The pure part of the `file` step: the bytes a step leaves, from the bytes it found.
 *
 * Text is handled as "binary strings" (latin1: one char per byte), so every byte the step does
 * not touch stays identical whatever the file's encoding (Latin-1, broken UTF-8, binary).
 * The runbook's own strings are UTF-8 and are turned into the same byte form before comparing.
 */

const binary = (bytes: Buffer): string => bytes.toString('latin1');
const fromBinary = (text: string): Buffer => Buffer.from(text, 'latin1');
/** A runbook string (UTF-8) as the binary string of its bytes. */
const utf8Binary = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

export type Transformed = Buffer | undefined | { problem: string };

export function countOccurrences(text: string, needle: string): number {
  let count = 0;
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) count++;
  return count;
}

/** How many times the `from` text of a replace occurs in `bytes`. */
export function occurrences(bytes: Buffer, from: string): number {
  return countOccurrences(binary(bytes), utf8Binary(from));
}

function replaceIn(p: NonNullable<FileParams['replace']>, before: Buffer, shown: string): Transformed {
  const text = binary(before);
  const from = utf8Binary(p.from);
  const to = utf8Binary(p.to);
  // When the new text contains the old (80 → 8080), occurrences inside the new text are
  // already replaced: leave them, so applying twice changes nothing.
  const pieces = to.includes(from) ? text.split(to) : [text];
  const found = pieces.reduce((n, piece) => n + countOccurrences(piece, from), 0);
  if (found === 0) {
    // Already done: the text was removed (`to` empty), or `to` is there instead.
    if (to === '' || text.includes(to)) return before;
    return { problem: `text to replace not found in ${shown}: ${JSON.stringify(p.from.slice(0, 80))}` };
  }
  if (p.count !== undefined && found !== p.count) return { problem: `expected ${p.count} occurrence(s) in ${shown}, found ${found}` };
  return fromBinary(pieces.map((piece) => piece.split(from).join(to)).join(to));
}

/**
 * Ensures a line. Lines keep their own endings; a line added to a CRLF file ends in CRLF;
 * `b=2` counts as present when the file has `b=2\r\n`.
 */
function ensureLine(line: string, regexp: string | undefined, before: Buffer | undefined): Transformed {
  if (line.includes('\n') || line.includes('\r')) return { problem: '`line` must be a single line (no line breaks)' };
  const text = before ? binary(before) : '';
  const want = utf8Binary(line);
  const lines = text.split('\n');
  const endsWithNewline = lines[lines.length - 1] === '';
  if (endsWithNewline) lines.pop();
  const body = (l: string) => (l.endsWith('\r') ? l.slice(0, -1) : l);
  if (lines.some((l) => body(l) === want)) return before ?? Buffer.alloc(0);
  const re = regexp !== undefined ? new RegExp(regexp) : undefined;
  const at = re ? lines.findIndex((l) => re.test(fromBinary(body(l)).toString('utf8'))) : -1;
  if (at >= 0) {
    lines[at] = want + (lines[at]!.endsWith('\r') ? '\r' : '');
    return fromBinary(lines.join('\n') + (endsWithNewline ? '\n' : ''));
  }
  const firstEnded = lines.length > 1 || (lines.length === 1 && endsWithNewline);
  const crlf = firstEnded && lines[0]!.endsWith('\r');
  const eol = crlf ? '\r\n' : '\n';
  const separator = text === '' || text.endsWith('\n') ? '' : eol;
  return fromBinary(text + separator + want + eol);
}

/** The new bytes for `before` (undefined: no file), or a reason it cannot be done. Pure. */
export function transform(p: FileParams, before: Buffer | undefined, shown: string): Transformed {
  if (p.absent) return undefined;
  if (p.content !== undefined) return Buffer.from(p.content, p.encoding === 'base64' ? 'base64' : 'utf8');
  if (p.replace) return before ? replaceIn(p.replace, before, shown) : { problem: `${shown} does not exist` };
  if (p.line !== undefined) return ensureLine(p.line, p.regexp, before);
  return { problem: 'nothing to do' };
}
