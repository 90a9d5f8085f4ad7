import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildRunbookSchema } from '../../src/schema/runbook-schema.js';
import { stepTypes } from '../../src/steps/registry.js';
import { repoRoot } from '../support/cli.js';

/** Every property name anywhere in the schema. */
function propertyNames(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => propertyNames(n, out));
  else if (node !== null && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    if (obj.properties && typeof obj.properties === 'object') for (const key of Object.keys(obj.properties)) out.add(key);
    for (const value of Object.values(obj)) propertyNames(value, out);
  }
  return out;
}

describe('docs/runbook-format.md', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'runbook-format.md'), 'utf8');

  it('documents every key of the schema', () => {
    const missing = [...propertyNames(buildRunbookSchema())].filter((key) => !doc.includes(`\`${key}\``));
    expect(missing).toEqual([]);
  });

  it('has a section with an example for every step type', () => {
    for (const t of stepTypes) {
      const section = doc.split(`### \`${t.type}\``)[1]?.split('\n### ')[0] ?? '';
      expect(section, `section for ${t.type}`).toMatch(new RegExp(`- ${t.type}:`));
    }
  });
});
