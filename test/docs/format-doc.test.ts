import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PATTERN_WORDS } from '../../src/load/schema-messages.js';
import { buildRunbookSchema, commonStepProperties } from '../../src/schema/runbook-schema.js';
import { stepTypes } from '../../src/steps/registry.js';
import { repoRoot } from '../support/cli.js';

type SchemaNode = Record<string, unknown>;

/** Every property name in a schema subtree (nested maps, list items, alternatives). */
function propertyNames(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => propertyNames(n, out));
  else if (node !== null && typeof node === 'object') {
    const obj = node as SchemaNode;
    if (obj.properties && typeof obj.properties === 'object') for (const key of Object.keys(obj.properties)) out.add(key);
    for (const value of Object.values(obj)) propertyNames(value, out);
  }
  return out;
}

/** The text under a heading, up to the next heading of the same or a higher level. */
function section(doc: string, heading: string): string {
  const level = heading.match(/^#+/)![0].length;
  const start = doc.indexOf(`\n${heading}\n`);
  if (start === -1) return '';
  const rest = doc.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{1,${level}} `));
  return end === -1 ? rest : rest.slice(0, end);
}

/** A key counts as documented in a section when the text names it in backticks. */
const undocumented = (keys: Iterable<string>, text: string) => [...keys].filter((k) => !text.includes(`\`${k}\``));

describe('docs/runbook-format.md', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'runbook-format.md'), 'utf8');
  const schema = buildRunbookSchema();
  const props = schema.properties as Record<string, SchemaNode>;
  const defs = schema.$defs as Record<string, SchemaNode>;
  const topLevel = new Set(Object.keys(props));
  for (const key of ['watch', 'troubleshooting', 'expected']) propertyNames(props[key], topLevel);
  const stepIntro = section(doc, '## Steps').split('\n### ')[0]!;

  /** Where each part of the schema must be documented. */
  const places: [what: string, keys: Set<string>, text: string][] = [
    ['top level', topLevel, section(doc, '## Top level')],
    ['policy', propertyNames(props.policy), section(doc, '### `policy`')],
    ['checkpoint', propertyNames(props.checkpoint), section(doc, '### `checkpoint`')],
    ['rollout', propertyNames(props.rollout), section(doc, '### Hosts and rollout')],
    ['changes', propertyNames(defs.change), section(doc, '## Changes')],
    ['common step keys', new Set(Object.keys(commonStepProperties)), stepIntro],
    ['step types', new Set(stepTypes.map((t) => t.type)), section(doc, '## Steps')],
    ...stepTypes.map((t): [string, Set<string>, string] => [`the ${t.type} step`, propertyNames(t.schema), section(doc, `### \`${t.type}\``)]),
  ];

  it.each(places.map(([what, keys, text]) => [what, keys, text] as const))('documents every key of %s in its own section', (what, keys, text) => {
    expect(text.length, `a section for ${what}`).toBeGreaterThan(0);
    expect(undocumented(keys, text)).toEqual([]);
  });

  it('every key of the schema belongs to one of those sections', () => {
    const covered = new Set(places.flatMap(([, keys]) => [...keys]));
    expect([...propertyNames(schema)].filter((k) => !covered.has(k))).toEqual([]);
  });

  it('has a section with an example for every step type', () => {
    for (const t of stepTypes) expect(section(doc, `### \`${t.type}\``), `section for ${t.type}`).toMatch(new RegExp(`- ${t.type}:`));
  });

  it('every pattern in the schema is explained in words in error messages', () => {
    const patterns = new Set<string>();
    const walk = (n: unknown) => {
      if (Array.isArray(n)) n.forEach(walk);
      else if (n !== null && typeof n === 'object') {
        for (const [k, v] of Object.entries(n)) {
          if (k === 'pattern' && typeof v === 'string') patterns.add(v);
          else walk(v);
        }
      }
    };
    walk(schema);
    expect([...patterns].filter((p) => !PATTERN_WORDS[p])).toEqual([]);
  });
});
