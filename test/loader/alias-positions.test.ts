import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDocument, visit, type Alias } from 'yaml';
import { aliasTarget } from '../../src/load/source.js';
import { runCli } from '../support/cli.js';

/**
 * Problems inside what an alias names are reported where the anchor it names was written. An
 * anchor name may be given twice; an alias then names the latest one before it, as YAML says
 * and as the data is built.
 */
describe('positions through YAML aliases', () => {
  it('a problem reached through a reused anchor points at the anchor the alias names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-alias-'));
    const file = join(dir, 'reused-anchor.yaml');
    writeFileSync(
      file,
      [
        'runbook: 1',
        'name: reused-anchor',
        'changes:',
        '  - id: a',
        '    title: A',
        '    risk: 1',
        '    apply: &steps',
        '      - run: "true"',
        '        timeout: 1h',
        '    rollback: [{ run: "true" }]',
        '  - id: b',
        '    title: B',
        '    risk: 1',
        '    apply: &steps',
        '      - run: "true"',
        '        timeout: banana',
        '    rollback: [{ run: "true" }]',
        '  - id: c',
        '    title: C',
        '    risk: 1',
        '    apply: *steps',
        '    rollback: [{ run: "true" }]',
        '',
      ].join('\n'),
    );
    const result = runCli(['validate', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('reused-anchor.yaml:16:18: changes[1].apply[0].timeout must be a duration');
    expect(result.stderr).toContain('reused-anchor.yaml:16:18: changes[2].apply[0].timeout must be a duration');
    expect(result.stderr).toContain('2 problems found');
  });

  it('names the same node as yaml’s own Alias.resolve, for generated documents with reused anchors', () => {
    const name = fc.constantFrom('a', 'b', 'c');
    // A tree of maps and lists whose leaves are scalars, some anchored, and aliases of names used so far.
    const node: fc.Memo<string> = fc.memo((depth) =>
      depth <= 1
        ? fc.oneof(
            fc.tuple(name, fc.integer({ min: 0, max: 99 })).map(([n, v]) => `&${n} ${v}`),
            name.map((n) => `*${n}`),
            fc.integer({ min: 0, max: 99 }).map(String),
          )
        : fc.oneof(
            node(depth - 1),
            fc.tuple(fc.option(name, { nil: undefined }), fc.array(node(depth - 1), { minLength: 1, maxLength: 4 })).map(([anchor, items]) => `${anchor ? `&${anchor} ` : ''}[${items.join(', ')}]`),
            fc.tuple(fc.option(name, { nil: undefined }), fc.array(node(depth - 1), { minLength: 1, maxLength: 4 })).map(([anchor, values]) => `${anchor ? `&${anchor} ` : ''}{${values.map((v, i) => `k${i}: ${v}`).join(', ')}}`),
          ),
    );
    fc.assert(
      fc.property(node(4), (text) => {
        const doc = parseDocument(text, { logLevel: 'silent' });
        if (doc.errors.length > 0) return;
        const aliases: Alias[] = [];
        visit(doc, { Alias: (_key, alias) => void aliases.push(alias) });
        for (const alias of aliases) expect(aliasTarget(doc, alias)).toBe(alias.resolve(doc));
      }),
      { numRuns: 500, seed: 20261125 },
    );
  });
});
