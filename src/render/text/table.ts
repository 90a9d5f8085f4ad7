import stringWidth from 'fast-string-width';

/** A zero-width joiner that is not joining two emoji (👨‍👩‍👧 keeps its joiners). */
const LONE_ZWJ = /(?<!\p{Extended_Pictographic}(?:\uFE0F|[\u{1F3FB}-\u{1F3FF}])?)\u200D|\u200D(?!\p{Extended_Pictographic})/gu;

/**
 * One line of plain text for a table cell: line breaks and tabs become spaces, other control
 * characters are shown as symbols (␛, ␇, ␡; never sent to the terminal), and invisible format
 * characters (U+200B, bidi overrides, soft hyphens…) are dropped, so every width measure agrees
 * on what is left.
 */
export function cellText(text: string): string {
  return text
    .replace(/\r\n|[\t\n\v\f\r\u0085\u2028\u2029]/g, ' ')
    .replace(/(?!\u200D)\p{Cf}/gu, '')
    .replace(LONE_ZWJ, '')
    .replace(/\p{Cc}/gu, (c) => {
      const code = c.charCodeAt(0);
      return code < 0x20 ? String.fromCharCode(0x2400 + code) : code === 0x7f ? '␡' : '�';
    });
}

let graphemes: Intl.Segmenter | undefined;

/** Breaks one cell's text into lines of at most `width` columns (at spaces; long words are cut). */
export function wrapText(text: string, width: number): string[] {
  if (stringWidth(text) <= width) return [text];
  const lines: string[] = [];
  let line = '';
  const push = () => {
    if (line !== '') lines.push(line);
    line = '';
  };
  for (const word of text.split(' ').filter((w) => w !== '')) {
    const candidate = line === '' ? word : `${line} ${word}`;
    if (stringWidth(candidate) <= width) {
      line = candidate;
      continue;
    }
    push();
    if (stringWidth(word) <= width) {
      line = word;
      continue;
    }
    graphemes ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    for (const { segment } of graphemes.segment(word)) {
      if (stringWidth(line + segment) > width) push();
      line += segment;
    }
  }
  push();
  return lines.length ? lines : [''];
}

export interface TableOptions {
  /** Fit this many columns (a terminal's width) by wrapping the `shrink` columns; unset: full width. */
  maxWidth?: number;
  /** Indexes of the columns that may be wrapped, e.g. the free-text ones. */
  shrink?: number[];
}

const MIN_COLUMN = 8;

/** Column widths that fit `maxWidth` if possible: the widest shrinkable column gives way first. */
function fitWidths(natural: number[], headers: string[], opts: TableOptions): number[] {
  const widths = [...natural];
  if (opts.maxWidth === undefined) return widths;
  const total = () => widths.reduce((a, b) => a + b, 0) + 3 * widths.length + 1;
  const floor = (i: number) => Math.min(natural[i]!, Math.max(MIN_COLUMN, stringWidth(headers[i]!)));
  const shrinkable = opts.shrink ?? widths.map((_, i) => i);
  while (total() > opts.maxWidth) {
    const candidates = shrinkable.filter((i) => widths[i]! > floor(i));
    if (candidates.length === 0) break;
    const widest = candidates.reduce((a, b) => (widths[b]! > widths[a]! ? b : a));
    widths[widest]!--;
  }
  return widths;
}

/**
 * A text table aligned by display width (Cyrillic, emoji and CJK stay in their columns);
 * fast-string-width because string-width costs ~40 ms of start-up. Cell text is made safe
 * first (cellText). With `maxWidth`, long cells wrap onto more lines instead of the terminal
 * wrapping the whole table.
 */
export function renderTable(headers: string[], rows: string[][], opts: TableOptions = {}): string {
  const head = headers.map(cellText);
  const body = rows.map((r) => head.map((_, i) => cellText(r[i] ?? '')));
  const natural = head.map((h, i) => Math.max(stringWidth(h), ...body.map((r) => stringWidth(r[i]!))));
  const widths = fitWidths(natural, head, opts);
  const pad = (text: string, i: number) => text + ' '.repeat(Math.max(0, widths[i]! - stringWidth(text)));
  const lines = (cells: string[]) => {
    const wrapped = cells.map((c, i) => wrapText(c, widths[i]!));
    const height = Math.max(...wrapped.map((w) => w.length));
    return Array.from({ length: height }, (_, k) => `│ ${wrapped.map((w, i) => pad(w[k] ?? '', i)).join(' │ ')} │`);
  };
  const rule = (l: string, m: string, r: string) => `${l}${widths.map((w) => '─'.repeat(w + 2)).join(m)}${r}`;
  return [rule('┌', '┬', '┐'), ...lines(head), rule('├', '┼', '┤'), ...body.flatMap(lines), rule('└', '┴', '┘')].join('\n');
}

/** A markdown table: cells are one line, pipes escaped (other escaping is the caller's). */
export function markdownTable(headers: string[], rows: string[][]): string {
  const cell = (t: string) => cellText(t).replace(/\|/g, '\\|');
  return [`| ${headers.map(cell).join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}
