import type { SourcePos } from '../model/diagnostic.js';
import { posAt, type Located, type YamlSource } from './source.js';

/**
 * Where in the text the thing named by `key` starts, from the document (`key` is what the
 * position was made with: a dotted path of fixed words and indexes, or a name).
 */
export type Locate = (src: Located, key: string) => number;

/**
 * A position whose line and column are looked up when first read: after the fast parse they
 * cost yaml's full parse of the file, which only a diagnostic (or a journal record) should pay
 * for. Its own properties are `file`, `line` and `col`, like any position's, so it copies,
 * compares and serialises as one (events copy their values with Object.entries); the getters
 * are shared by every instance (a runbook of 10,000 changes makes 70,000 of them).
 */
class LazyPos implements SourcePos {
  static readonly #lineCol: PropertyDescriptorMap = {
    line: {
      enumerable: true,
      get(this: LazyPos) {
        return this.#settle().line;
      },
    },
    col: {
      enumerable: true,
      get(this: LazyPos) {
        return this.#settle().col;
      },
    },
  };

  readonly file: string;
  declare readonly line: number;
  declare readonly col: number;
  readonly #src: Located;
  readonly #key: string;
  readonly #locate: Locate;
  #found: SourcePos | undefined;

  constructor(src: Located, key: string, locate: Locate) {
    this.file = src.file;
    this.#src = src;
    this.#key = key;
    this.#locate = locate;
    Object.defineProperties(this, LazyPos.#lineCol);
  }

  #settle(): SourcePos {
    return (this.#found ??= posAt(this.#src, this.#locate(this.#src, this.#key)));
  }
}

/** A position in `src` looked up when first read (see LazyPos): it keeps the document, not the data. */
export function lazyPos(src: YamlSource, key: string, locate: Locate): SourcePos {
  return new LazyPos(src.located ?? src, key, locate);
}

/** `{ file, line, col }` as plain data, from any position (a lazy one is looked up now). */
export function plainPos(pos: SourcePos): SourcePos {
  return { file: pos.file, line: pos.line, col: pos.col };
}
