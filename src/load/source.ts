import { readFile } from 'node:fs/promises';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Alias, type Document, type Node, type Pair } from 'yaml';
import type { Diagnostic, SourcePos } from '../model/diagnostic.js';
import { fastYaml } from './fast-yaml.js';
import { isMergeKey, openerOf, structureDiagnostics } from './yaml-structure.js';

export const MAX_RUNBOOK_BYTES = 10 * 1024 * 1024;
const LARGE_FILE_BYTES = 512 * 1024;

/**
 * A parser's intermediate structures are many times the file's size and garbage once the data
 * is built (yaml's token tree ~100x; js-yaml's event list for the fast parse ~20x): for large
 * runbooks, collect them now, so the rest of the run reuses that memory instead of growing the
 * heap past it (peak RSS of a 10,000-change plan: 215 MB without, 173 MB with, after the fast
 * parse; 324 MB without, 262 MB with, after yaml's).
 */
async function collectGarbage(): Promise<void> {
  const [{ setFlagsFromString }, { runInNewContext }] = await Promise.all([import('node:v8'), import('node:vm')]);
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
const MAX_ALIASES = 100;

/** A parsed YAML file with what is needed to point at its nodes. */
export interface YamlSource {
  /** The path as the operator gave it: what messages show. */
  file: string;
  text: string;
  /** yaml's document, with positions; after the fast parse, parsed on first use (a diagnostic needs it). */
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
  /** The document as plain data (aliases expanded, bounded). */
  data: unknown;
  /** Set when the data came from the fast parse: where its aliases stand (see `fastYaml`). */
  aliasPaths?: (string | number)[][];
  /** After the fast parse: the file's document and lines without its data, what lazy positions hold on to. */
  located?: Located;
}

/** What positions are looked up in. */
export interface Located {
  file: string;
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
}

export function posAt(src: { file: string; lines: LineCounter }, offset: number): SourcePos {
  const { line, col } = src.lines.linePos(offset);
  return { file: src.file, line, col };
}

const PARSE_OPTIONS = { prettyErrors: false, uniqueKeys: false, strict: true, merge: true, logLevel: 'error' } as const;

/** A source whose document and line table are made on first use, for data from the fast parse. */
function lazySource(file: string, text: string, data: unknown, aliasPaths: (string | number)[][]): YamlSource {
  let doc: Document.Parsed | undefined;
  let lines: LineCounter | undefined;
  const located: Located = {
    file,
    get doc() {
      return (doc ??= parseDocument(text, PARSE_OPTIONS));
    },
    get lines() {
      return (lines ??= lineStarts(text));
    },
  };
  return {
    file,
    text,
    data,
    aliasPaths,
    located,
    get doc() {
      return located.doc;
    },
    get lines() {
      return located.lines;
    },
  };
}

export interface ReadYaml {
  /** The parsed file; absent when it could not be read or parsed into data. */
  source?: YamlSource;
  /** The document even when it has errors (secrets' names are read from it to redact code frames); from the fast parse, made when read. */
  readonly doc?: Document.Parsed;
  diagnostics: Diagnostic[];
  text?: string;
}

/**
 * Reads and parses a YAML file; problems come back as diagnostics, never as a thrown error.
 * Duplicate keys are reported and the data is still built, so the other problems of the file
 * are reported in the same pass. YAML merge keys (`<<: *anchor`) are expanded.
 *
 * With `fast`, a file the fast parse reads exactly as yaml does (see `fastYaml`) is read by it
 * alone: its source's document is parsed only if something asks for a position. Any file it
 * declines, or cannot read, is parsed by yaml as before, and so reported as before.
 */
export async function readYaml(file: string, what = 'runbook', options: { fast?: boolean } = {}): Promise<ReadYaml> {
  if (file === '') return { diagnostics: [{ code: 'read', message: `cannot read ${what}: the file name is empty` }] };
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    return { diagnostics: [{ code: 'read', message: `cannot read ${what} ${file}: ${reason}` }] };
  }
  const at = (line: number, col: number): SourcePos => ({ file, line, col });
  if (bytes.length > MAX_RUNBOOK_BYTES) {
    return { diagnostics: [{ code: 'too-large', message: `${what} is ${(bytes.length / 1e6).toFixed(1)} MB; the limit is ${MAX_RUNBOOK_BYTES / 1024 / 1024} MB`, pos: at(1, 1) }] };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const bad = firstInvalidUtf8(bytes);
    const before = bytes.subarray(0, bad).toString('utf8');
    const line = before.split('\n').length;
    const col = before.length - before.lastIndexOf('\n');
    return { diagnostics: [{ code: 'encoding', message: `${what} is not valid UTF-8 (byte 0x${bytes[bad]?.toString(16)} at offset ${bad})`, pos: at(line, col) }], text: bytes.toString('utf8') };
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const fast = options.fast ? fastYaml(text) : undefined;
  if (fast) {
    const source = lazySource(file, text, fast.data, fast.aliasPaths);
    if (bytes.length > LARGE_FILE_BYTES) await collectGarbage();
    return {
      source,
      get doc() {
        return source.doc;
      },
      diagnostics: [],
      text,
    };
  }
  const lines = lineStarts(text);
  let doc: Document.Parsed;
  try {
    // logLevel 'error': the parser's warnings (e.g. a list used as a key) would otherwise be
    // printed by Node; structureDiagnostics reports them with a position instead.
    doc = parseDocument(text, PARSE_OPTIONS);
  } catch (error) {
    const message = error instanceof RangeError ? 'the document nests too deeply to read' : `cannot parse: ${(error as Error).message}`;
    return { diagnostics: [{ code: 'yaml-syntax', message, pos: at(1, 1) }], text };
  }
  const src: YamlSource = { file, text, doc, lines, data: undefined };
  if (bytes.length > LARGE_FILE_BYTES) await collectGarbage();
  const diagnostics: Diagnostic[] = [];
  const seenLines = new Set<number>();
  for (const error of doc.errors) {
    const opener = openerOf(error, doc, text);
    const pos = posAt(src, opener?.offset ?? error.pos[0]);
    // One message per line: the parser's follow-on errors for the same spot add only noise.
    if (seenLines.has(pos.line)) continue;
    seenLines.add(pos.line);
    diagnostics.push({ code: 'yaml-syntax', message: opener ? `YAML syntax error: ${opener.message}` : yamlMessage(error.code, error.message), pos });
  }
  if (diagnostics.length === 0) diagnostics.push(...structureDiagnostics(doc, src));
  const usable = () => diagnostics.every((d) => d.code === 'duplicate-key');
  if (usable()) {
    try {
      src.data = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (error) {
      const text = (error as Error).message;
      const message =
        error instanceof RangeError
          ? 'the document nests too deeply to read'
          : /merge/i.test(text)
            ? `a merge key (<<) must name a map or a list of maps: ${text}`
            : /alias/i.test(text)
              ? `too many YAML aliases (more than ${MAX_ALIASES} expansions): refusing to expand`
              : text;
      diagnostics.push({ code: 'yaml-syntax', message, pos: at(1, 1) });
    }
  }
  return { source: usable() ? src : undefined, doc, diagnostics, text };
}

/** Where each line starts, from the text itself: the parser's own count misses lines after some syntax errors. */
function lineStarts(text: string): LineCounter {
  const lines = new LineCounter();
  lines.addNewLine(0);
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1);
  return lines;
}

function firstInvalidUtf8(bytes: Buffer): number {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 0x80) continue;
    const need = b >= 0xf0 && b <= 0xf4 ? 3 : b >= 0xe0 ? 2 : b >= 0xc2 && b < 0xe0 ? 1 : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k++) if (((bytes[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    i += need;
  }
  return 0;
}

function yamlMessage(code: string, message: string): string {
  if (/Maximum call stack/i.test(message)) return 'the document nests too deeply to read';
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  if (code === 'TAB_AS_INDENT') return 'tabs are not allowed for indentation in YAML; use spaces';
  return `YAML syntax error: ${first}`;
}

const aliasTargets = new WeakMap<Document.Parsed, Map<Alias, Node | undefined>>();

/**
 * What an alias names: the last node before it with that anchor, as `Alias.resolve` finds it.
 * `Alias.resolve` walks the whole document on every call; this walks it once per document.
 */
export function aliasTarget(doc: Document.Parsed, alias: Alias): Node | undefined {
  let targets = aliasTargets.get(doc);
  if (!targets) {
    const found = new Map<Alias, Node | undefined>();
    const latest = new Map<string, Node>();
    visit(doc, {
      Node: (_key, node) => {
        if (isAlias(node)) found.set(node, latest.get(node.source));
        else if (node.anchor) latest.set(node.anchor, node);
      },
    });
    aliasTargets.set(doc, (targets = found));
  }
  return targets.get(alias);
}

/** The pair for `key` in a map, looking through merge keys (`<<: *anchor`) like the data does. */
function pairIn(doc: Document.Parsed, map: unknown, key: string, depth = 0): Pair | undefined {
  const target = isAlias(map) ? aliasTarget(doc, map) : map;
  if (!isMap(target) || depth > 20) return undefined;
  let found: Pair | undefined;
  for (const p of target.items) if (isScalar(p.key) && String(p.key.value) === key) found = p;
  if (found) return found;
  for (const p of target.items) {
    if (!isMergeKey(p.key)) continue;
    const sources = isSeq(p.value) ? p.value.items : [p.value];
    for (const source of sources) {
      const inner = pairIn(doc, source, key, depth + 1);
      if (inner) return inner;
    }
  }
  return undefined;
}

/** The node at a JSON path in the document, and the pair holding it (for key positions). */
export function nodeAt(doc: Document.Parsed, path: (string | number)[]): { node?: Node; pair?: Pair } {
  return nodeBelow(doc, doc.contents, path);
}

/** The node at a JSON path below `from` (nothing when `from` is absent), and the pair holding it. */
export function nodeBelow(doc: Document.Parsed, from: unknown, path: (string | number)[]): { node?: Node; pair?: Pair } {
  if (from === undefined || from === null) return {};
  let current: unknown = from;
  let pair: Pair | undefined;
  for (const segment of path) {
    if (isAlias(current)) current = aliasTarget(doc, current);
    if (isMap(current)) {
      pair = pairIn(doc, current, String(segment));
      current = pair?.value;
    } else if (isSeq(current)) {
      current = current.items[Number(segment)];
      pair = undefined;
    } else {
      return {};
    }
    if (current === undefined) return {};
  }
  return { node: current as Node, pair };
}

export function nodeOffset(node: Node | Pair | undefined): number | undefined {
  if (node === undefined) return undefined;
  if (isPair(node)) return nodeOffset(node.key as Node);
  return node.range?.[0];
}
