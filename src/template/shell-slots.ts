/**
 * Where each template of a bash command lands: outside quotes (also inside `$( )` and
 * backticks), inside "…", in an unquoted heredoc body — or somewhere a value cannot be passed
 * safely (inside '…', a quoted heredoc, arithmetic, the program text of a nested shell).
 *
 * The command is read the way bash reads it, as far as quoting and nesting go; it is not a
 * full parser. It does not need to be: values never become part of the command text (see
 * fill.ts), so a place read wrongly can at worst split a value into words, never run it.
 */
import { HOLE, textWithHoles } from './template-holes.js';
import { readsProgram, reparsedBy, type ReparseKind } from './program-args.js';

export type ShellProblem = ReparseKind | 'single-quotes' | 'ansi-quotes' | 'quoted-heredoc' | 'heredoc-program' | 'after-backslash';
export type ShellSlot = { ok: true; context: 'bare' | 'double' | 'heredoc' } | { ok: false; problem: ShellProblem };

/** A piece of a command: literal text, or a template whose place is wanted (null). */
export type ShellPiece = string | null;

const TEST_ARITHMETIC = new Set(['-eq', '-ne', '-lt', '-le', '-gt', '-ge']);

interface Heredoc {
  delim: string;
  strip: boolean;
  quoted: boolean;
  program: boolean;
}

interface CmdFrame {
  t: 'cmd';
  close: 'eof' | ')' | '`';
  /** Open `( … )` inside this frame. */
  depth: number;
  words: string[];
  word: string | null;
  /** The word being read follows a redirection (not an argument); `<<<` feeds stdin. */
  redirect: '' | '<>' | '<<<';
  pending: Heredoc[];
  /** Inside `[[ … ]]`: its templates, refused at `]]` if the test is arithmetic. */
  test?: { holes: number[]; arithmetic: boolean };
}

type Frame =
  | CmdFrame
  | { t: 'single' }
  | { t: 'ansi' }
  | { t: 'double' }
  | { t: 'param'; start: number }
  | { t: 'arith'; close: '))' | ']'; depth: number }
  | ({ t: 'heredoc' } & Heredoc);

const isBlank = (c: string | undefined) => c === ' ' || c === '\t';
const OPERATOR = /[\s;&|()<>]/;

/** The place of every template (null piece) of the command, in order. */
export function shellSlots(pieces: ShellPiece[]): ShellSlot[] {
  const { text, holes } = textWithHoles(pieces);
  const slots: ShellSlot[] = Array.from({ length: holes.size }, () => ({ ok: true, context: 'bare' }) as ShellSlot);
  if (holes.size === 0) return slots;

  const top: CmdFrame = newCmd('eof');
  const stack: Frame[] = [top];
  const n = text.length;
  let i = 0;

  function newCmd(close: CmdFrame['close']): CmdFrame {
    return { t: 'cmd', close, depth: 0, words: [], word: null, redirect: '', pending: [] };
  }
  function cmdFrame(): CmdFrame {
    for (let k = stack.length - 1; k >= 0; k--) if (stack[k]!.t === 'cmd') return stack[k] as CmdFrame;
    return top;
  }
  function inDouble(): boolean {
    for (let k = stack.length - 1; k >= 0; k--) {
      const t = stack[k]!.t;
      if (t === 'double' || t === 'heredoc') return true;
      if (t === 'cmd') return false;
    }
    return false;
  }
  const fail = (hole: number, problem: ShellProblem) => {
    if (slots[hole]!.ok) slots[hole] = { ok: false, problem };
  };
  const appendToWord = (ch: string) => {
    const c = cmdFrame();
    c.word = (c.word ?? '') + ch;
  };
  function endWord(c: CmdFrame): void {
    if (c.word === null) return;
    const word = c.word;
    c.word = null;
    if (c.redirect) {
      c.redirect = '';
      return;
    }
    if (word === '[[' && c.words.every((w) => w === '!' || w === 'if' || w === 'then' || w === 'elif' || w === 'while' || w === 'until' || w === 'do' || w === 'else')) c.test = { holes: [], arithmetic: false };
    else if (c.test && TEST_ARITHMETIC.has(word)) c.test.arithmetic = true;
    else if (c.test && word === ']]') endTest(c);
    c.words.push(word);
  }
  function endTest(c: CmdFrame): void {
    if (c.test?.arithmetic) for (const h of c.test.holes) fail(h, 'arithmetic');
    c.test = undefined;
  }
  function endCommand(c: CmdFrame): void {
    endWord(c);
    endTest(c);
    c.words = [];
  }
  const place = (hole: number, context: 'bare' | 'double' | 'heredoc') => {
    if (slots[hole]!.ok) slots[hole] = { ok: true, context };
  };
  /** A template read in a command frame (bare) or in "…" directly inside one. */
  function commandHole(hole: number, context: 'bare' | 'double'): void {
    const c = cmdFrame();
    place(hole, context);
    const current = c.word ?? '';
    if (c.redirect === '<<<' && readsProgram(c.words)) fail(hole, 'heredoc-program');
    else if (!c.redirect) {
      const reparsed = reparsedBy(c.words, current);
      if (reparsed) fail(hole, reparsed);
    }
    c.test?.holes.push(hole);
    c.word = current + HOLE;
  }
  /** `$…` at i: pushes the frame it opens, or returns false for a plain `$`. */
  function dollar(): boolean {
    const next = text[i + 1];
    if (next === '(' && text[i + 2] === '(') {
      stack.push({ t: 'arith', close: '))', depth: 0 });
      i += 3;
    } else if (next === '(') {
      stack.push(newCmd(')'));
      i += 2;
    } else if (next === '{') {
      stack.push({ t: 'param', start: i + 2 });
      i += 2;
    } else if (next === '[') {
      stack.push({ t: 'arith', close: ']', depth: 0 });
      i += 2;
    } else return false;
    return true;
  }
  function readHeredocWord(c: CmdFrame, strip: boolean): void {
    while (isBlank(text[i])) i++;
    let delim = '';
    let quoted = false;
    while (i < n && !OPERATOR.test(text[i]!)) {
      const ch = text[i]!;
      if (ch === "'" || ch === '"') {
        quoted = true;
        const close = text.indexOf(ch, i + 1);
        const end = close === -1 ? n : close;
        delim += text.slice(i + 1, end);
        i = end + 1;
      } else if (ch === '\\') {
        quoted = true;
        delim += text[i + 1] ?? '';
        i += 2;
      } else {
        delim += ch;
        i++;
      }
    }
    c.pending.push({ delim, strip, quoted, program: readsProgram(c.words) });
  }
  function startHeredoc(c: CmdFrame): void {
    const next = c.pending.shift();
    if (next) stack.push({ t: 'heredoc', ...next });
  }

  // Heredoc bodies are read line by line: is the line at i the delimiter?
  function heredocEnds(h: Heredoc): boolean {
    let start = i;
    if (h.strip) while (text[start] === '\t') start++;
    const nl = text.indexOf('\n', start);
    const line = text.slice(start, nl === -1 ? n : nl);
    if (line !== h.delim) return false;
    i = nl === -1 ? n : nl + 1;
    return true;
  }
  let lineStart = false;

  while (i < n) {
    const frame = stack[stack.length - 1]!;
    const ch = text[i]!;
    const hole = ch === HOLE ? holes.get(i) : undefined;
    const escaped = ch === '\\' && text[i + 1] === HOLE ? holes.get(i + 1) : undefined;
    if (escaped !== undefined && frame.t !== 'single' && !(frame.t === 'heredoc' && frame.quoted)) {
      // `\{{ x }}` would escape the first character of what the template becomes.
      fail(escaped, 'after-backslash');
      i++;
      continue;
    }

    if (frame.t === 'heredoc') {
      if (lineStart) {
        lineStart = false;
        if (heredocEnds(frame)) {
          stack.pop();
          const c = cmdFrame();
          startHeredoc(c);
          lineStart = stack[stack.length - 1]!.t === 'heredoc';
          continue;
        }
      }
      if (hole !== undefined) {
        if (frame.quoted) fail(hole, 'quoted-heredoc');
        else place(hole, 'heredoc');
        if (frame.program) fail(hole, 'heredoc-program');
        i++;
      } else if (frame.quoted) {
        if (ch === '\n') lineStart = true;
        i++;
      } else if (ch === '\\') i += 2;
      else if (ch === '$' && dollar()) continue;
      else if (ch === '`') {
        stack.push(newCmd('`'));
        i++;
      } else {
        if (ch === '\n') lineStart = true;
        i++;
      }
      continue;
    }

    if (frame.t === 'single' || frame.t === 'ansi') {
      if (hole !== undefined) fail(hole, frame.t === 'single' ? 'single-quotes' : 'ansi-quotes');
      if (frame.t === 'ansi' && ch === '\\') {
        appendToWord(text.slice(i, i + 2));
        i += 2;
        continue;
      }
      if (ch === "'") stack.pop();
      else appendToWord(ch);
      i++;
      continue;
    }

    if (frame.t === 'double') {
      if (hole !== undefined) {
        commandHole(hole, 'double');
        i++;
      } else if (ch === '\\') {
        appendToWord(text.slice(i, i + 2));
        i += 2;
      } else if (ch === '"') {
        stack.pop();
        i++;
      } else if (ch === '$' && dollar()) {
        appendToWord('$');
      } else if (ch === '`') {
        appendToWord('`');
        stack.push(newCmd('`'));
        i++;
      } else {
        appendToWord(ch);
        i++;
      }
      continue;
    }

    if (frame.t === 'param') {
      if (hole !== undefined) {
        const expr = text.slice(frame.start, i);
        // ${a[…]}, ${a:offset}: bash evaluates these as arithmetic.
        if (expr.includes('[') || /^[#!]?[A-Za-z0-9_@*]+:(?![-=+?])/.test(expr)) fail(hole, 'arithmetic');
        else if (expr === '!') fail(hole, 'variable-name');
        else place(hole, inDouble() ? 'double' : 'bare');
        i++;
      } else if (ch === '\\') i += 2;
      else if (ch === '}') {
        stack.pop();
        i++;
      } else if (ch === "'" && !inDouble()) {
        stack.push({ t: 'single' });
        i++;
      } else if (ch === '"') {
        stack.push({ t: 'double' });
        i++;
      } else if (ch === '$' && dollar()) continue;
      else if (ch === '`') {
        stack.push(newCmd('`'));
        i++;
      } else i++;
      continue;
    }

    if (frame.t === 'arith') {
      if (hole !== undefined) fail(hole, 'arithmetic');
      if (ch === '(') frame.depth++;
      else if (ch === ')' && frame.depth > 0) frame.depth--;
      else if (frame.close === '))' && ch === ')' && text[i + 1] === ')') {
        stack.pop();
        i += 2;
        continue;
      } else if (frame.close === ']' && ch === ']') {
        stack.pop();
        i++;
        continue;
      } else if (ch === '$' && dollar()) continue;
      else if (ch === '`') {
        stack.push(newCmd('`'));
        i++;
        continue;
      }
      i++;
      continue;
    }

    // A command frame: the top level, $( ), backticks, <( ).
    const c = frame;
    if (hole !== undefined) {
      commandHole(hole, inDouble() ? 'double' : 'bare');
      i++;
      continue;
    }
    if (c.word === null && ch === '#') {
      const nl = text.indexOf('\n', i);
      i = nl === -1 ? n : nl;
      continue;
    }
    switch (ch) {
      case '\\':
        if (text[i + 1] === '\n') i += 2;
        else {
          appendToWord(text[i + 1] ?? '');
          i += 2;
        }
        continue;
      case "'":
        appendToWord('');
        stack.push({ t: 'single' });
        i++;
        continue;
      case '"':
        appendToWord('');
        stack.push({ t: 'double' });
        i++;
        continue;
      case '`':
        if (c.close === '`') {
          endWord(c);
          stack.pop();
          appendToWord('`');
          i++;
          continue;
        }
        appendToWord('`');
        stack.push(newCmd('`'));
        i++;
        continue;
      case '$':
        if (text[i + 1] === "'") {
          appendToWord('');
          stack.push({ t: 'ansi' });
          i += 2;
          continue;
        }
        if (text[i + 1] === '"') {
          appendToWord('');
          stack.push({ t: 'double' });
          i += 2;
          continue;
        }
        appendToWord('$');
        if (!dollar()) i++;
        continue;
      case ' ':
      case '\t':
        endWord(c);
        i++;
        continue;
      case '\n':
        endCommand(c);
        i++;
        if (c.pending.length > 0) {
          startHeredoc(c);
          lineStart = true;
        }
        continue;
      case '&':
        if (text[i + 1] === '>' && !c.test) {
          endWord(c);
          c.redirect = '<>';
          i += text[i + 2] === '>' ? 3 : 2;
          while (isBlank(text[i])) i++;
          continue;
        }
      // falls through
      case ';':
      case '|':
        if (c.test && ch !== ';') {
          endWord(c);
          i += text[i + 1] === ch ? 2 : 1;
          continue;
        }
        endCommand(c);
        i += text[i + 1] === ch || (ch === '|' && text[i + 1] === '&') || (ch === ';' && text[i + 1] === '&') ? 2 : 1;
        continue;
      case '(':
        if (c.word === null && text[i + 1] === '(' && c.words.length === 0) {
          stack.push({ t: 'arith', close: '))', depth: 0 });
          i += 2;
          continue;
        }
        if (c.test) {
          endWord(c);
          i++;
          continue;
        }
        endCommand(c);
        c.depth++;
        i++;
        continue;
      case ')':
        if (c.test) {
          endWord(c);
          i++;
          continue;
        }
        endCommand(c);
        if (c.depth > 0) c.depth--;
        else if (c.close === ')') {
          stack.pop();
          appendToWord(')');
        }
        i++;
        continue;
      case '<':
      case '>': {
        if (text[i + 1] === '(') {
          appendToWord(ch);
          stack.push(newCmd(')'));
          i += 2;
          continue;
        }
        if (c.test) {
          endWord(c);
          i++;
          continue;
        }
        if (c.word !== null && /^\d+$/.test(c.word)) c.word = null;
        endWord(c);
        if (ch === '<' && text[i + 1] === '<' && text[i + 2] === '<') {
          c.redirect = '<<<';
          i += 3;
        } else if (ch === '<' && text[i + 1] === '<') {
          i += 2;
          const strip = text[i] === '-';
          if (strip) i++;
          readHeredocWord(c, strip);
          continue;
        } else {
          c.redirect = '<>';
          i++;
          while (text[i] === '>' || text[i] === '&' || text[i] === '|') i++;
        }
        while (isBlank(text[i])) i++;
        continue;
      }
      default:
        appendToWord(ch);
        i++;
    }
  }
  for (const frame of stack) if (frame.t === 'cmd') endCommand(frame);
  return slots;
}
