/**
 * Where each template of a SQL text lands: in SQL code, or inside a string literal, a quoted
 * identifier, a dollar-quoted body or a comment — where neither a bind parameter nor a
 * quoted literal can go. PostgreSQL's lexical rules, with standard_conforming_strings on
 * (the default since 9.1).
 */

import { HOLE, textWithHoles } from './template-holes.js';

export type SqlProblem = 'string' | 'identifier' | 'dollar-quoted' | 'comment';
export type SqlSlot = { ok: true } | { ok: false; problem: SqlProblem };

/** A piece of SQL: literal text, or a template whose place is wanted (null). */
export type SqlPiece = string | null;

const IDENT_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

export function sqlSlots(pieces: SqlPiece[]): SqlSlot[] {
  const { text, holes } = textWithHoles(pieces);
  const slots: SqlSlot[] = Array.from({ length: holes.size }, () => ({ ok: true }) as SqlSlot);
  const n = text.length;
  /** Marks every template in text[from, to) as misplaced. */
  const within = (from: number, to: number, problem: SqlProblem) => {
    for (let k = from; k < to; k++) {
      const hole = text[k] === HOLE ? holes.get(k) : undefined;
      if (hole !== undefined) slots[hole] = { ok: false, problem };
    }
  };
  let i = 0;
  while (i < n) {
    const ch = text[i]!;
    const prev = i > 0 ? text[i - 1]! : '';
    if (ch === '-' && text[i + 1] === '-') {
      const nl = text.indexOf('\n', i);
      const end = nl === -1 ? n : nl;
      within(i, end, 'comment');
      i = end;
    } else if (ch === '/' && text[i + 1] === '*') {
      let depth = 1;
      let k = i + 2;
      while (k < n && depth > 0) {
        if (text[k] === '/' && text[k + 1] === '*') {
          depth++;
          k += 2;
        } else if (text[k] === '*' && text[k + 1] === '/') {
          depth--;
          k += 2;
        } else k++;
      }
      within(i, k, 'comment');
      i = k;
    } else if (ch === "'") {
      // E'…' strings take backslash escapes; elsewhere '' is the only escape.
      const escapes = (prev === 'E' || prev === 'e') && !IDENT_CHAR.test(text[i - 2] ?? '');
      let k = i + 1;
      while (k < n) {
        if (escapes && text[k] === '\\') k += 2;
        else if (text[k] === "'" && text[k + 1] === "'") k += 2;
        else if (text[k] === "'") break;
        else k++;
      }
      within(i, k, 'string');
      i = k + 1;
    } else if (ch === '"') {
      let k = i + 1;
      while (k < n && !(text[k] === '"' && text[k + 1] !== '"')) k += text[k] === '"' ? 2 : 1;
      within(i, k, 'identifier');
      i = k + 1;
    } else if (ch === '$' && !IDENT_CHAR.test(prev)) {
      const tag = DOLLAR_TAG.exec(text.slice(i, i + 64))?.[0];
      if (tag === undefined) {
        i++;
        continue;
      }
      const close = text.indexOf(tag, i + tag.length);
      const end = close === -1 ? n : close + tag.length;
      within(i, end, 'dollar-quoted');
      i = end;
    } else i++;
  }
  return slots;
}
