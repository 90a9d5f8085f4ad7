import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { RunbookInvalidError } from '../../src/model/diagnostic.js';
import { loadPlan } from '../../src/plan/load-plan.js';
import { repoRoot } from '../support/cli.js';

/**
 * Whatever the published schema rejects, `validate` must reject too: ajv with the committed
 * schema/runbook.schema.json is the reference, the loader must report at least one problem
 * for every document it calls invalid. Seeded (SCHEMA_SEED, SCHEMA_CASES).
 */
const SEED = Number(process.env.SCHEMA_SEED ?? 20261125);
const CASES = Number(process.env.SCHEMA_CASES ?? 600);
const schema = JSON.parse(readFileSync(join(repoRoot, 'schema', 'runbook.schema.json'), 'utf8')) as Record<string, unknown>;
const reference = new Ajv.default({ allErrors: true, strict: false, allowUnionTypes: true }).compile(schema);
const dir = mkdtempSync(join(tmpdir(), 'runbook-schema-agreement-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fixtureDirs = ['broken', 'valid', 'plan', 'vars'].map((d) => join(repoRoot, 'test', 'fixtures', d));
const corpus: { name: string; data: unknown }[] = [];
for (const d of fixtureDirs) {
  for (const f of readdirSync(d).filter((n) => n.endsWith('.yaml') && !n.endsWith('.vars.yaml'))) {
    try {
      corpus.push({ name: f, data: parse(readFileSync(join(d, f), 'utf8'), { merge: true, maxAliasCount: 100, logLevel: 'error' }) });
    } catch {
      // not YAML the parser turns into data: the syntax tests cover it
    }
  }
}
corpus.push({ name: 'phase1.yaml', data: parse(readFileSync(join(repoRoot, 'runbooks', 'phase1.yaml'), 'utf8')) });

/** Loads `data` written as YAML; true when the loader reported at least one problem. */
async function loaderRejects(data: unknown, name: string): Promise<boolean> {
  const file = join(dir, name);
  writeFileSync(file, stringify(data, { aliasDuplicateObjects: false }));
  try {
    await loadPlan(file, { env: { PATH: process.env.PATH, HOME: '/root' } });
    return false;
  } catch (error) {
    if (!(error instanceof RunbookInvalidError)) throw new Error(`${name}: the loader threw ${(error as Error).stack}`);
    expect(error.diagnostics.length, name).toBeGreaterThan(0);
    return true;
  }
}

const interesting = fc.oneof(
  fc.constantFrom<unknown>(null, '', 0, -1, 300, 1e9, true, 'x', [], {}, [{}], { url: 'x' }, { path: 'x' }, { command: 'x', argv: ['y'] }, '5 minutes', '0s', { none: '' }, { equals: '1' }),
  fc.jsonValue({ maxDepth: 2 }),
);

type Op = { kind: 'set'; at: number; value: unknown } | { kind: 'delete'; at: number } | { kind: 'add'; at: number; key: string; value: unknown };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: interesting }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('add' as const), at: fc.nat(), key: fc.constantFrom('url', 'path', 'command', 'argv', 'query', 'exec', 'ready', 'none', 'env', 'run', 'file', 'x-y', 'matches', 'timeout', 'rollback'), value: interesting }),
);

/** Every container in the document, with a setter and deleter for each of its entries. */
function places(root: unknown): { container: Record<string, unknown> | unknown[]; key: string | number }[] {
  const out: { container: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push({ container: v, key: i });
        walk(x);
      });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        out.push({ container: v as Record<string, unknown>, key: k });
        walk(x);
      }
    }
  };
  walk(root);
  return out;
}

function mutate(data: unknown, ops: Op[]): unknown {
  const copy = structuredClone(data);
  for (const o of ops) {
    const all = places(copy);
    if (all.length === 0) break;
    const { container, key } = all[o.at % all.length]!;
    if (o.kind === 'set') (container as Record<string | number, unknown>)[key] = structuredClone(o.value);
    else if (o.kind === 'delete') {
      if (Array.isArray(container)) container.splice(key as number, 1);
      else delete container[key as string];
    }
    else {
      const target = (container as Record<string | number, unknown>)[key];
      if (target !== null && typeof target === 'object' && !Array.isArray(target)) (target as Record<string, unknown>)[o.key] = structuredClone(o.value);
    }
  }
  return copy;
}

describe('the loader rejects everything the published schema rejects', () => {
  it('every fixture ajv calls invalid gets at least one diagnostic', async () => {
    let invalid = 0;
    for (const { name, data } of corpus) {
      if (reference(data)) continue;
      invalid++;
      expect(await loaderRejects(data, `fixture-${name}`), `${name}: ajv rejects it (${JSON.stringify(reference.errors?.[0])}) but the loader accepted it`).toBe(true);
    }
    expect(invalid).toBeGreaterThan(20);
  });

  it(`${CASES} mutated runbooks (seed ${SEED}): ajv invalid ⇒ the loader reports a problem`, async () => {
    const bases = corpus.filter(({ data }) => reference(data));
    const cases = fc.sample(fc.tuple(fc.nat({ max: bases.length - 1 }), fc.array(op, { minLength: 1, maxLength: 3 })), { seed: SEED, numRuns: CASES });
    let checked = 0;
    for (const [n, [base, ops]] of cases.entries()) {
      const data = mutate(bases[base]!.data, ops);
      if (reference(data)) continue;
      checked++;
      const accepted = !(await loaderRejects(data, `case-${n}.yaml`));
      expect(accepted, `case ${n} (seed ${SEED}, base ${bases[base]!.name}): ajv says ${JSON.stringify(reference.errors?.slice(0, 2))} but the loader accepted ${JSON.stringify(data).slice(0, 400)}`).toBe(false);
    }
    expect(checked).toBeGreaterThan(CASES / 3);
  }, 300_000);
});
