import type { Concealed, Diagnostic } from '../../model/diagnostic.js';

/** Columns of source shown around the problem on a long line. */
const WIDTH = 120;
const MASK = '***';

/** Replaces the concealed parts of one line, keeping the caret on the same character. */
function conceal(line: string, lineStart: number, col: number, spans: [number, number][], values: string[]): { text: string; col: number } {
  const cuts: [number, number][] = [];
  for (const [start, end] of spans) {
    const from = Math.max(start - lineStart, 0);
    const to = Math.min(end - lineStart, line.length);
    if (from < to) cuts.push([from, to]);
  }
  for (const value of values) for (let i = line.indexOf(value); i !== -1; i = line.indexOf(value, i + value.length)) cuts.push([i, i + value.length]);
  cuts.sort((a, b) => a[0] - b[0]);
  let text = '';
  let at = 0;
  let caret = col - 1;
  for (const [from, to] of cuts) {
    if (to <= at) continue;
    const start = Math.max(from, at);
    text += line.slice(at, start) + MASK;
    if (caret >= to) caret += MASK.length - (to - start);
    else if (caret > start) caret = start;
    at = to;
  }
  return { text: text + line.slice(at), col: caret + 1 };
}

/**
 * The offending line with a caret under the column: secret values are masked, and a long line
 * is cut to a window around the column.
 */
export function codeFrame(source: string | undefined, d: Diagnostic, concealed: Concealed): string {
  if (source === undefined || !d.pos) return '';
  const lines = source.split('\n');
  const raw = lines[d.pos.line - 1];
  if (raw === undefined) return '';
  const lineStart = lines.slice(0, d.pos.line - 1).reduce((n, l) => n + l.length + 1, 0);
  const shown = conceal(raw.replace(/\r$/, ''), lineStart, d.pos.col, concealed.spans.get(d.pos.file) ?? [], concealed.values.filter((v) => v.length >= 3));
  let text = shown.text.replace(/\t/g, ' ');
  let caret = Math.min(shown.col - 1, text.length);
  if (text.length > WIDTH) {
    const from = Math.max(0, Math.min(caret - WIDTH / 2, text.length - WIDTH));
    const head = from > 0 ? '…' : '';
    const tail = from + WIDTH < text.length ? '…' : '';
    text = head + text.slice(from, from + WIDTH) + tail;
    caret = caret - from + head.length;
  }
  const gutter = String(d.pos.line).length;
  return `  ${String(d.pos.line)} | ${text}\n  ${' '.repeat(gutter)} | ${' '.repeat(caret)}^\n`;
}

/** A message with every secret value replaced. */
export function concealMessage(message: string, concealed: Concealed): string {
  return concealed.values.filter((v) => v.length >= 3).reduce((text, value) => text.split(value).join(MASK), message);
}
