/**
 * Where each template of a bash command lands: outside quotes (also inside `$( )` and
 * backticks), inside "…", in an unquoted heredoc body — or somewhere a value cannot be passed
 * safely (inside '…', a quoted heredoc, arithmetic, the program text of a nested shell).
 *
 * The command is read the way bash reads it, as far as quoting and nesting go; it is not a
 * full parser. It does not need to be: values never become part of the command text (see
 * fill.ts), so a place read wrongly can at worst split a value into words, never run it.
 */
import { readsProgram, reparsedBy, type ReparseKind } from './program-args.js';
import { HOLE, textWithHoles } from './template-holes.js';

export type ShellProblem = ReparseKind | 'single-quotes' | 'ansi-quotes' | 'quoted-heredoc' | 'heredoc-program' | 'after-backslash';
export type ShellSlot = { ok: true; context: 'bare' | 'double' | 'heredoc' } | { ok: false; problem: ShellProblem };

/** A piece of a command: literal text, or a template whose place is wanted (null). */
export type ShellPiece = string | null;

const TEST_ARITHMETIC = new Set(['-eq', '-ne', '-lt', '-le', '-gt', '-ge']);
/** The words `[[` may follow and still open a test. */
const TEST_MAY_FOLLOW = new Set(['!', 'if', 'then', 'elif', 'while', 'until', 'do', 'else']);

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

type Context = 'bare' | 'double' | 'heredoc';

/** The place of every template (null piece) of the command, in order. */
export function shellSlots(pieces: ShellPiece[]): ShellSlot[] {
  const { text, holes } = textWithHoles(pieces);
  const reader = new ShellReader(text, holes);
  return holes.size === 0 ? reader.slots : reader.read();
}

/**
 * Reads a command once, left to right, keeping a stack of what the reader is inside (a
 * command, quotes, `${ }`, arithmetic, a heredoc body); each template found gets its slot.
 */
class ShellReader {
  readonly slots: ShellSlot[];
  private readonly n: number;
  private readonly top: CmdFrame = newCmd('eof');
  private readonly stack: Frame[] = [this.top];
  private i = 0;
  /** At the start of a heredoc body line (where its delimiter may stand). */
  private lineStart = false;

  constructor(
    private readonly text: string,
    private readonly holes: Map<number, number>,
  ) {
    this.n = text.length;
    this.slots = Array.from({ length: holes.size }, () => ({ ok: true, context: 'bare' }) as ShellSlot);
  }

  read(): ShellSlot[] {
    while (this.i < this.n) this.readOne();
    for (const frame of this.stack) if (frame.t === 'cmd') this.endCommand(frame);
    return this.slots;
  }

  /** Reads the character (or few) at i, as the innermost frame reads it. */
  private readOne(): void {
    const { text, i } = this;
    const frame = this.stack[this.stack.length - 1]!;
    const ch = text[i]!;
    const hole = ch === HOLE ? this.holes.get(i) : undefined;
    const escaped = ch === '\\' && text[i + 1] === HOLE ? this.holes.get(i + 1) : undefined;
    if (escaped !== undefined && frame.t !== 'single' && !(frame.t === 'heredoc' && frame.quoted)) {
      // `\{{ x }}` would escape the first character of what the template becomes.
      this.fail(escaped, 'after-backslash');
      this.i++;
      return;
    }
    switch (frame.t) {
      case 'heredoc':
        return this.inHeredoc(frame, ch, hole);
      case 'single':
      case 'ansi':
        return this.inSingleQuotes(frame.t, ch, hole);
      case 'double':
        return this.inDoubleQuotes(ch, hole);
      case 'param':
        return this.inParameter(frame.start, ch, hole);
      case 'arith':
        return this.inArithmetic(frame, ch, hole);
      case 'cmd':
        return this.inCommand(frame, ch, hole);
    }
  }

  // ── Slots ──────────────────────────────────────────────────────────────────────────────

  private fail(hole: number, problem: ShellProblem): void {
    if (this.slots[hole]!.ok) this.slots[hole] = { ok: false, problem };
  }

  private place(hole: number, context: Context): void {
    if (this.slots[hole]!.ok) this.slots[hole] = { ok: true, context };
  }

  /** A template read in a command frame (bare) or in "…" directly inside one. */
  private commandHole(hole: number, context: 'bare' | 'double'): void {
    const c = this.cmdFrame();
    this.place(hole, context);
    const current = c.word ?? '';
    if (c.redirect === '<<<' && readsProgram(c.words)) this.fail(hole, 'heredoc-program');
    else if (!c.redirect) {
      const reparsed = reparsedBy(c.words, current);
      if (reparsed) this.fail(hole, reparsed);
    }
    c.test?.holes.push(hole);
    c.word = current + HOLE;
  }

  // ── Frames ─────────────────────────────────────────────────────────────────────────────

  private cmdFrame(): CmdFrame {
    for (let k = this.stack.length - 1; k >= 0; k--) if (this.stack[k]!.t === 'cmd') return this.stack[k] as CmdFrame;
    return this.top;
  }

  private inDouble(): boolean {
    for (let k = this.stack.length - 1; k >= 0; k--) {
      const t = this.stack[k]!.t;
      if (t === 'double' || t === 'heredoc') return true;
      if (t === 'cmd') return false;
    }
    return false;
  }

  /** Pushes a frame and steps over the `width` characters that opened it. */
  private open(frame: Frame, width: number): void {
    this.stack.push(frame);
    this.i += width;
  }

  /** `$…` at i: pushes the frame it opens, or returns false for a plain `$`. */
  private dollar(): boolean {
    const next = this.text[this.i + 1];
    if (next === '(' && this.text[this.i + 2] === '(') this.open({ t: 'arith', close: '))', depth: 0 }, 3);
    else if (next === '(') this.open(newCmd(')'), 2);
    else if (next === '{') this.open({ t: 'param', start: this.i + 2 }, 2);
    else if (next === '[') this.open({ t: 'arith', close: ']', depth: 0 }, 2);
    else return false;
    return true;
  }

  // ── Words and commands ─────────────────────────────────────────────────────────────────

  private appendToWord(ch: string): void {
    const c = this.cmdFrame();
    c.word = (c.word ?? '') + ch;
  }

  private endWord(c: CmdFrame): void {
    if (c.word === null) return;
    const word = c.word;
    c.word = null;
    if (c.redirect) {
      c.redirect = '';
      return;
    }
    if (word === '[[' && c.words.every((w) => TEST_MAY_FOLLOW.has(w))) c.test = { holes: [], arithmetic: false };
    else if (c.test && TEST_ARITHMETIC.has(word)) c.test.arithmetic = true;
    else if (c.test && word === ']]') this.endTest(c);
    c.words.push(word);
  }

  private endTest(c: CmdFrame): void {
    if (c.test?.arithmetic) for (const h of c.test.holes) this.fail(h, 'arithmetic');
    c.test = undefined;
  }

  private endCommand(c: CmdFrame): void {
    this.endWord(c);
    this.endTest(c);
    c.words = [];
  }

  private skipBlanks(): void {
    while (isBlank(this.text[this.i])) this.i++;
  }

  // ── Heredocs ───────────────────────────────────────────────────────────────────────────

  /** The delimiter word after `<<` / `<<-`: the body it announces starts at the next line. */
  private readHeredocWord(c: CmdFrame, strip: boolean): void {
    const { text, n } = this;
    this.skipBlanks();
    let delim = '';
    let quoted = false;
    while (this.i < n && !OPERATOR.test(text[this.i]!)) {
      const ch = text[this.i]!;
      if (ch === "'" || ch === '"') {
        quoted = true;
        const close = text.indexOf(ch, this.i + 1);
        const end = close === -1 ? n : close;
        delim += text.slice(this.i + 1, end);
        this.i = end + 1;
      } else if (ch === '\\') {
        quoted = true;
        delim += text[this.i + 1] ?? '';
        this.i += 2;
      } else {
        delim += ch;
        this.i++;
      }
    }
    c.pending.push({ delim, strip, quoted, program: readsProgram(c.words) });
  }

  private startHeredoc(c: CmdFrame): void {
    const next = c.pending.shift();
    if (next) this.stack.push({ t: 'heredoc', ...next });
  }

  // Heredoc bodies are read line by line: is the line at i the delimiter?
  private heredocEnds(h: Heredoc): boolean {
    const { text, n } = this;
    let start = this.i;
    if (h.strip) while (text[start] === '\t') start++;
    const nl = text.indexOf('\n', start);
    const line = text.slice(start, nl === -1 ? n : nl);
    if (line !== h.delim) return false;
    this.i = nl === -1 ? n : nl + 1;
    return true;
  }

  private inHeredoc(frame: Extract<Frame, { t: 'heredoc' }>, ch: string, hole: number | undefined): void {
    if (this.lineStart) {
      this.lineStart = false;
      if (this.heredocEnds(frame)) {
        this.stack.pop();
        this.startHeredoc(this.cmdFrame());
        this.lineStart = this.stack[this.stack.length - 1]!.t === 'heredoc';
        return;
      }
    }
    if (hole !== undefined) {
      if (frame.quoted) this.fail(hole, 'quoted-heredoc');
      else this.place(hole, 'heredoc');
      if (frame.program) this.fail(hole, 'heredoc-program');
      this.i++;
    } else if (frame.quoted) {
      if (ch === '\n') this.lineStart = true;
      this.i++;
    } else if (ch === '\\') this.i += 2;
    else if (ch === '$' && this.dollar()) return;
    else if (ch === '`') this.open(newCmd('`'), 1);
    else {
      if (ch === '\n') this.lineStart = true;
      this.i++;
    }
  }

  // ── Quotes, ${ } and arithmetic ────────────────────────────────────────────────────────

  private inSingleQuotes(kind: 'single' | 'ansi', ch: string, hole: number | undefined): void {
    if (hole !== undefined) this.fail(hole, kind === 'single' ? 'single-quotes' : 'ansi-quotes');
    if (kind === 'ansi' && ch === '\\') {
      this.appendToWord(this.text.slice(this.i, this.i + 2));
      this.i += 2;
      return;
    }
    if (ch === "'") this.stack.pop();
    else this.appendToWord(ch);
    this.i++;
  }

  private inDoubleQuotes(ch: string, hole: number | undefined): void {
    if (hole !== undefined) {
      this.commandHole(hole, 'double');
      this.i++;
    } else if (ch === '\\') {
      this.appendToWord(this.text.slice(this.i, this.i + 2));
      this.i += 2;
    } else if (ch === '"') {
      this.stack.pop();
      this.i++;
    } else if (ch === '$' && this.dollar()) {
      this.appendToWord('$');
    } else if (ch === '`') {
      this.appendToWord('`');
      this.open(newCmd('`'), 1);
    } else {
      this.appendToWord(ch);
      this.i++;
    }
  }

  /** Inside `${ … }`, which started at `start`. */
  private inParameter(start: number, ch: string, hole: number | undefined): void {
    if (hole !== undefined) {
      const expr = this.text.slice(start, this.i);
      // ${a[…]}, ${a:offset}: bash evaluates these as arithmetic.
      if (expr.includes('[') || /^[#!]?[A-Za-z0-9_@*]+:(?![-=+?])/.test(expr)) this.fail(hole, 'arithmetic');
      else if (expr === '!') this.fail(hole, 'variable-name');
      else this.place(hole, this.inDouble() ? 'double' : 'bare');
      this.i++;
    } else if (ch === '\\') this.i += 2;
    else if (ch === '}') {
      this.stack.pop();
      this.i++;
    } else if (ch === "'" && !this.inDouble()) this.open({ t: 'single' }, 1);
    else if (ch === '"') this.open({ t: 'double' }, 1);
    else if (ch === '$' && this.dollar()) return;
    else if (ch === '`') this.open(newCmd('`'), 1);
    else this.i++;
  }

  private inArithmetic(frame: Extract<Frame, { t: 'arith' }>, ch: string, hole: number | undefined): void {
    if (hole !== undefined) this.fail(hole, 'arithmetic');
    if (ch === '(') frame.depth++;
    else if (ch === ')' && frame.depth > 0) frame.depth--;
    else if (frame.close === '))' && ch === ')' && this.text[this.i + 1] === ')') {
      this.stack.pop();
      this.i += 2;
      return;
    } else if (frame.close === ']' && ch === ']') {
      this.stack.pop();
      this.i++;
      return;
    } else if (ch === '$' && this.dollar()) return;
    else if (ch === '`') {
      this.open(newCmd('`'), 1);
      return;
    }
    this.i++;
  }

  // ── A command frame: the top level, $( ), backticks, <( ) ──────────────────────────────

  private inCommand(c: CmdFrame, ch: string, hole: number | undefined): void {
    if (hole !== undefined) {
      this.commandHole(hole, this.inDouble() ? 'double' : 'bare');
      this.i++;
      return;
    }
    if (c.word === null && ch === '#') return this.skipComment();
    switch (ch) {
      case '\\':
        return this.backslash();
      case "'":
        return this.openQuote({ t: 'single' }, 1);
      case '"':
        return this.openQuote({ t: 'double' }, 1);
      case '`':
        return this.backtick(c);
      case '$':
        return this.commandDollar();
      case ' ':
      case '\t':
        this.endWord(c);
        this.i++;
        return;
      case '\n':
        return this.newline(c);
      case '&':
      case ';':
      case '|':
        return this.controlOperator(c, ch);
      case '(':
        return this.openParen(c);
      case ')':
        return this.closeParen(c);
      case '<':
      case '>':
        return this.redirection(c, ch);
      default:
        this.appendToWord(ch);
        this.i++;
    }
  }

  private skipComment(): void {
    const nl = this.text.indexOf('\n', this.i);
    this.i = nl === -1 ? this.n : nl;
  }

  private backslash(): void {
    if (this.text[this.i + 1] !== '\n') this.appendToWord(this.text[this.i + 1] ?? '');
    this.i += 2;
  }

  /** A quote starting inside a word (or starting one). */
  private openQuote(frame: Frame, width: number): void {
    this.appendToWord('');
    this.open(frame, width);
  }

  private backtick(c: CmdFrame): void {
    if (c.close === '`') {
      this.endWord(c);
      this.stack.pop();
      this.appendToWord('`');
      this.i++;
      return;
    }
    this.appendToWord('`');
    this.open(newCmd('`'), 1);
  }

  /** `$'…'`, `$"…"`, or `$` opening `$( )`, `${ }`, `$(( ))`, `$[ ]` (or a plain `$`). */
  private commandDollar(): void {
    const next = this.text[this.i + 1];
    if (next === "'") return this.openQuote({ t: 'ansi' }, 2);
    if (next === '"') return this.openQuote({ t: 'double' }, 2);
    this.appendToWord('$');
    if (!this.dollar()) this.i++;
  }

  /** The command ends; a heredoc announced on it starts its body here. */
  private newline(c: CmdFrame): void {
    this.endCommand(c);
    this.i++;
    if (c.pending.length > 0) {
      this.startHeredoc(c);
      this.lineStart = true;
    }
  }

  /** `&`, `;`, `|` and their doubles (`&>`, `&>>` redirect instead; inside `[[ ]]` they only end a word). */
  private controlOperator(c: CmdFrame, ch: '&' | ';' | '|'): void {
    const { text, i } = this;
    if (ch === '&' && text[i + 1] === '>' && !c.test) {
      this.endWord(c);
      c.redirect = '<>';
      this.i += text[i + 2] === '>' ? 3 : 2;
      this.skipBlanks();
      return;
    }
    if (c.test && ch !== ';') {
      this.endWord(c);
      this.i += text[i + 1] === ch ? 2 : 1;
      return;
    }
    this.endCommand(c);
    this.i += text[i + 1] === ch || (ch === '|' && text[i + 1] === '&') || (ch === ';' && text[i + 1] === '&') ? 2 : 1;
  }

  /** `((` opening arithmetic, or a subshell `(`. */
  private openParen(c: CmdFrame): void {
    if (c.word === null && this.text[this.i + 1] === '(' && c.words.length === 0) return this.open({ t: 'arith', close: '))', depth: 0 }, 2);
    if (c.test) {
      this.endWord(c);
      this.i++;
      return;
    }
    this.endCommand(c);
    c.depth++;
    this.i++;
  }

  /** Closes a subshell, or the `$( )` / `<( )` this frame is. */
  private closeParen(c: CmdFrame): void {
    if (c.test) {
      this.endWord(c);
      this.i++;
      return;
    }
    this.endCommand(c);
    if (c.depth > 0) c.depth--;
    else if (c.close === ')') {
      this.stack.pop();
      this.appendToWord(')');
    }
    this.i++;
  }

  /** `<( )` / `>( )`, or a redirection: `<<<` (stdin from the word), `<<` / `<<-` (heredoc), `<`, `>`, `>>`, `>&`, `>|`. */
  private redirection(c: CmdFrame, ch: '<' | '>'): void {
    const { text } = this;
    if (text[this.i + 1] === '(') {
      this.appendToWord(ch);
      this.open(newCmd(')'), 2);
      return;
    }
    if (c.test) {
      this.endWord(c);
      this.i++;
      return;
    }
    if (c.word !== null && /^\d+$/.test(c.word)) c.word = null;
    this.endWord(c);
    if (ch === '<' && text[this.i + 1] === '<' && text[this.i + 2] === '<') {
      c.redirect = '<<<';
      this.i += 3;
    } else if (ch === '<' && text[this.i + 1] === '<') {
      this.i += 2;
      const strip = text[this.i] === '-';
      if (strip) this.i++;
      this.readHeredocWord(c, strip);
      return;
    } else {
      c.redirect = '<>';
      this.i++;
      while (text[this.i] === '>' || text[this.i] === '&' || text[this.i] === '|') this.i++;
    }
    this.skipBlanks();
  }
}

function newCmd(close: CmdFrame['close']): CmdFrame {
  return { t: 'cmd', close, depth: 0, words: [], word: null, redirect: '', pending: [] };
}
