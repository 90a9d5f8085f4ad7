import { cellText } from './table.js';

/**
 * Runbook text (titles, labels, analysis lists) placed into markdown: it is shown as the
 * author wrote it and can never change the document's structure (a `## heading`, a list, a
 * table or a link hidden in a label).
 */

/**
 * What markdown gives a meaning anywhere in a line: code, emphasis, links, HTML, strikethrough,
 * entities. `_` inside a word and `&` outside an entity mean nothing, and are left as they are
 * so the raw markdown stays readable. (`|` is escaped by markdownTable, the only place it counts.)
 */
const INLINE = /[\\`*[\]~]|<(?=[A-Za-z/!?])|(?<![\p{L}\p{N}])_|_(?![\p{L}\p{N}])|&(?=#?\w+;)/gu;
/** Characters that start a block at the beginning of a line: heading, quote, list, rule, numbered list. */
const LINE_START = /^(\s*)([#>+=-]|\d+[.)])/;

const escapeInline = (text: string) => text.replace(INLINE, (c) => `\\${c}`);

function escapeLine(line: string): string {
  return escapeInline(line).replace(LINE_START, (_, space: string, mark: string) => `${space}${mark.replace(/^(\d*)(.)$/, '$1\\$2')}`);
}

/** A table cell's text (one line; markdownTable escapes its pipes). */
export function mdCell(text: string): string {
  return escapeInline(cellText(text).trim());
}

/** One line of inline text (line breaks become spaces). */
export function mdInline(text: string): string {
  return escapeLine(cellText(text).trim());
}

/** Text that may span lines, kept as lines, each indented by `indent` after the first (a list item's continuation). */
export function mdBlock(text: string, indent = '  '): string {
  return text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((l) => escapeLine(cellText(l)))
    .map((l, i) => (i === 0 ? l : indent + l))
    .join('\n')
    .trimEnd();
}

/** Inline code that holds any text: a fence longer than any run of backticks inside it. */
export function mdCode(text: string): string {
  const one = cellText(text);
  const longest = Math.max(0, ...[...one.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = one.startsWith('`') || one.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${one}${pad}${fence}`;
}

/** A list: one `- item` per entry, multi-line entries kept inside their item. */
export function mdList(items: string[]): string {
  return items.map((i) => `- ${mdBlock(i)}`).join('\n');
}
