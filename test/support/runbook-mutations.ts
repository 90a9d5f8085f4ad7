import fc from 'fast-check';

/**
 * Valid runbooks mutated at random, for the fuzz and differential tests: lines deleted,
 * duplicated, swapped, re-indented or cut; values replaced with hostile scalars; raw bytes,
 * invalid UTF-8 and alias bombs inserted.
 */

/** @DIR@ becomes the case's own directory; every step writes a file there (ran-*, x.txt). */
export const SMALL = `runbook: 1
name: fuzz
vars: { dir: "@DIR@", n: 3 }
secrets: [token]
policy: { maxRisk: 10, confirmFrom: 11, onFailure: rollback-all }
preflight:
  - run: "touch @DIR@/ran-preflight"
changes:
  - id: one
    title: One
    risk: 1
    apply:
      - run: "touch @DIR@/ran-apply"
        timeout: 5s
      - file: { path: "@DIR@/x.txt", content: "{{ n }}" }
    verify:
      - run: { command: "touch @DIR@/ran-verify; cat {{ dir }}/x.txt", stdout: { contains: "3" } }
        retries: 1
        interval: 10ms
    rollback:
      - run: "touch @DIR@/ran-rollback"
      - file: { path: "@DIR@/x.txt", absent: true }
`;

/** Byte sequences that are not UTF-8: stray continuation, bad lead, overlong, surrogate, truncated, out of range. */
const INVALID_UTF8 = [[0x80], [0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x98]];

/** A flow sequence whose anchors nest `depth` deep, each level `width` aliases of the last: width^depth nodes. */
function aliasBomb(depth: number, width: number): string {
  const levels = [`&l0 [${Array(width).fill('lol').join(', ')}]`];
  for (let d = 1; d < depth; d++) levels.push(`&l${d} [${Array(width).fill(`*l${d - 1}`).join(', ')}]`);
  return `[${levels.join(', ')}]`;
}

const scalar = fc.oneof(
  fc.constantFrom('null', 'true', '-1', '11', '1e309', '"{{ nope }}"', '"{{ dir"', '[]', '{}', '[1, [2, [3]]]', '&a x', '*a', '!!binary aGk=', "'", '"', '{{', ':', '- x', '? x'),
  fc.string({ maxLength: 40 }).map((s) => JSON.stringify(s)),
  fc.string({ maxLength: 20, unit: 'grapheme' }),
  fc.integer().map(String),
  fc.constantFrom('x'.repeat(100_000), '['.repeat(5000) + ']'.repeat(5000), '{a: '.repeat(3000) + '}'.repeat(3000)),
);

export type Mutation =
  | { kind: 'delete'; at: number }
  | { kind: 'duplicate'; at: number }
  | { kind: 'swap'; at: number; with: number }
  | { kind: 'value'; at: number; value: string }
  | { kind: 'bytes'; at: number; bytes: number[] }
  | { kind: 'invalid-utf8'; at: number; which: number }
  | { kind: 'alias-bomb'; at: number; depth: number; width: number }
  | { kind: 'indent'; at: number; by: number }
  | { kind: 'truncate'; at: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ kind: fc.constant('value' as const), at: fc.nat(), value: scalar }),
  fc.record({ kind: fc.constant('bytes' as const), at: fc.nat(), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('invalid-utf8' as const), at: fc.nat(), which: fc.nat({ max: INVALID_UTF8.length - 1 }) }),
  fc.record({ kind: fc.constant('alias-bomb' as const), at: fc.nat(), depth: fc.integer({ min: 4, max: 30 }), width: fc.integer({ min: 4, max: 10 }) }),
  fc.record({ kind: fc.constant('indent' as const), at: fc.nat(), by: fc.integer({ min: -4, max: 4 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

/** UTF-8 text as a string of bytes (one char per byte), so inserted raw bytes survive every later mutation. */
const asBytes = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

/** The base with the mutations applied, then @DIR@ set to `dir`. */
export function mutate(base: string, muts: Mutation[], dir: string): Buffer {
  let lines = asBytes(base).split('\n');
  const insert = (at: number, bytes: number[]) => {
    const text = lines.join('\n');
    const i = at % Math.max(1, text.length);
    lines = (text.slice(0, i) + String.fromCharCode(...bytes) + text.slice(i)).split('\n');
  };
  const setValue = (i: number, value: string) => {
    const line = lines[i] ?? '';
    lines[i] = /:\s/.test(line) ? line.replace(/:\s.*$/, `: ${asBytes(value)}`) : `${line.match(/^\s*/)?.[0] ?? ''}laughs: ${asBytes(value)}`;
  };
  for (const m of muts) {
    const i = m.at % Math.max(1, lines.length);
    switch (m.kind) {
      case 'delete':
        lines.splice(i, 1);
        break;
      case 'duplicate':
        lines.splice(i, 0, lines[i] ?? '');
        break;
      case 'swap': {
        const j = m.with % Math.max(1, lines.length);
        [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
        break;
      }
      case 'value':
        setValue(i, m.value);
        break;
      case 'alias-bomb':
        setValue(i, aliasBomb(m.depth, m.width));
        break;
      case 'indent':
        lines[i] = m.by >= 0 ? ' '.repeat(m.by) + (lines[i] ?? '') : (lines[i] ?? '').slice(-m.by);
        break;
      case 'truncate':
        lines = lines.slice(0, i);
        break;
      case 'bytes':
        insert(m.at, m.bytes);
        break;
      case 'invalid-utf8':
        insert(m.at, INVALID_UTF8[m.which]!);
        break;
    }
  }
  return Buffer.from(lines.join('\n').split('@DIR@').join(asBytes(dir)), 'latin1');
}
