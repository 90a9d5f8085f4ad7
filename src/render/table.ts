import stringWidth from 'fast-string-width';

/** A text table aligned by display width (Cyrillic, emoji and CJK stay in their columns); fast-string-width because string-width costs ~40 ms of start-up. */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(stringWidth(h), ...rows.map((r) => stringWidth(r[i] ?? ''))));
  const pad = (text: string, i: number) => text + ' '.repeat(widths[i]! - stringWidth(text));
  const line = (cells: string[]) => `│ ${cells.map((c, i) => pad(c, i)).join(' │ ')} │`;
  const rule = (l: string, m: string, r: string) => `${l}${widths.map((w) => '─'.repeat(w + 2)).join(m)}${r}`;
  return [rule('┌', '┬', '┐'), line(headers), rule('├', '┼', '┤'), ...rows.map(line), rule('└', '┴', '┘')].join('\n');
}

/** A markdown table (escapes pipes). */
export function markdownTable(headers: string[], rows: string[][]): string {
  const cell = (t: string) => t.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [`| ${headers.map(cell).join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}
