import { isAlias, isCollection, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair, type Scalar, type YAMLMap, type YAMLError, type YAMLSeq } from 'yaml';
import type { Diagnostic, SourcePos } from '../model/diagnostic.js';

type Located = { file: string; lines: LineCounter };

export interface NodeVisitor {
  map?(map: YAMLMap): void;
  seq?(seq: YAMLSeq): void;
  pair?(pair: Pair): void;
  scalar?(scalar: Scalar): void;
}

/**
 * Calls the visitor for every node of the document, keys included, aliases not followed.
 * A loop, not recursion (a deeply nested file must not overflow the stack), and without the
 * per-node path arrays of yaml's `visit`, which cost start-up time on every command.
 */
export function eachNode(root: unknown, visitor: NodeVisitor): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isScalar(node)) visitor.scalar?.(node);
    else if (isMap(node)) {
      visitor.map?.(node);
      for (let i = node.items.length - 1; i >= 0; i--) stack.push(node.items[i]);
    } else if (isSeq(node)) {
      visitor.seq?.(node);
      for (let i = node.items.length - 1; i >= 0; i--) stack.push(node.items[i]);
    } else if (isPair(node)) {
      visitor.pair?.(node);
      stack.push(node.value, node.key);
    }
  }
}

function posAt(src: Located, offset: number): SourcePos {
  const { line, col } = src.lines.linePos(offset);
  return { file: src.file, line, col };
}

/** `<<` of a merge (the parser gives it a symbol value, not the text). */
export function isMergeKey(key: unknown): boolean {
  return isScalar(key) && (key.value === '<<' || (typeof key.value === 'symbol' && (key as { source?: string }).source === '<<'));
}

function keyText(key: unknown): string | undefined {
  return isScalar(key) ? String(key.value) : undefined;
}

/**
 * Problems the YAML parser accepts but a runbook cannot hold: the same key twice in one map
 * (`duplicate-key`, named, with the line of its first use) and keys that are lists or maps
 * (`yaml-key`). Duplicates do not stop the other checks; collection keys do (they cannot
 * become plain data).
 */
export function structureDiagnostics(doc: Document.Parsed, src: Located & { text: string }): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const first = new Map<string, number>();
  eachNode(doc.contents, {
    map(map) {
      first.clear();
      for (const pair of map.items) {
        const key = pair.key as Node | null;
        const offset = key?.range?.[0] ?? map.range?.[0] ?? 0;
        if (isCollection(key) || isAlias(key)) {
          // Point at the "?" that starts an explicit key, when there is one.
          const before = src.text.slice(0, offset).trimEnd();
          const at = before.endsWith('?') ? before.length - 1 : offset;
          const what = isMap(key) ? 'a map' : isSeq(key) ? 'a list' : 'an alias';
          diagnostics.push({ code: 'yaml-key', message: `a key must be plain text, not ${what}`, pos: posAt(src, at) });
          continue;
        }
        const name = keyText(key);
        if (name === undefined || isMergeKey(key)) continue;
        const seen = first.get(name);
        if (seen === undefined) first.set(name, offset);
        else diagnostics.push({ code: 'duplicate-key', message: `duplicate key "${name}" (first at line ${posAt(src, seen).line}); a key may appear only once in a map`, pos: posAt(src, offset) });
      }
    },
  });
  return diagnostics;
}

/**
 * Where an unclosed quote or flow collection was opened. The parser notices only at the end of
 * the file; pointing there shows an empty line, so point at the opening character instead.
 */
export function openerOf(error: YAMLError, doc: Document.Parsed, text: string): { offset: number; message: string } | undefined {
  const flow = /Flow (map|sequence)/.exec(error.message);
  const quote = error.code === 'MISSING_CHAR' && /quote/i.test(error.message);
  if (!flow && !quote) return undefined;
  let found: { offset: number; message: string } | undefined;
  const unclosed = (node: Node, close: string) => {
    const [start, end] = node.range ?? [0, 0];
    return end >= start + 1 && !text.slice(start + 1, end).trimEnd().endsWith(close);
  };
  eachNode(doc.contents, {
    scalar(node) {
      if (!quote || found) return;
      const mark = node.type === 'QUOTE_DOUBLE' ? '"' : node.type === 'QUOTE_SINGLE' ? "'" : undefined;
      if (mark && unclosed(node, mark)) found = { offset: node.range![0], message: `this ${mark} opens a quoted value that is never closed (the file ends inside it)` };
    },
    map(node) {
      if (flow?.[1] === 'map' && !found && node.flow && unclosed(node, '}')) found = { offset: node.range![0], message: 'this "{" opens a flow map that is never closed with "}"' };
    },
    seq(node) {
      if (flow?.[1] === 'sequence' && !found && node.flow && unclosed(node, ']')) found = { offset: node.range![0], message: 'this "[" opens a flow list that is never closed with "]"' };
    },
  });
  return found;
}
