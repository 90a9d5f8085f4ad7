import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { changesRunbook, stepsRunbook } from '../../bench/generate.js';
import { fastYaml } from '../../src/load/fast-yaml.js';
import { structureDiagnostics } from '../../src/load/yaml-structure.js';
import { RunbookInvalidError, UsageError } from '../../src/model/diagnostic.js';
import { loadPlan, type LoadPlanOptions } from '../../src/plan/load-plan.js';
import { repoRoot } from '../support/cli.js';
import { mutate, mutation, SMALL } from '../support/runbook-mutations.js';

/**
 * The fast parse (js-yaml, positions only when a diagnostic reads them) must change nothing:
 * for every file, the plan or the diagnostics — messages, codes, file:line:col, what code frames
 * hide — are the same as with yaml's full parse alone.
 */
const root = mkdtempSync(join(tmpdir(), 'runbook-fast-parse-'));
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const CASES = Number(process.env.FAST_PARSE_CASES ?? 1500);

/** Where yaml runs out of stack depends on the stack at the time: this message's column differs between two full parses of one file. */
const TOO_DEEP = 'the document nests too deeply to read';

/** What a caller of loadPlan sees, as plain data: reading it reads every position, lazy or not. */
async function outcome(file: string, fastParse: boolean, options: LoadPlanOptions = {}): Promise<unknown> {
  try {
    const plan = await loadPlan(file, { env: { PATH: process.env.PATH, HOME: '/nonexistent' }, ...options, fastParse });
    return { plan: JSON.parse(JSON.stringify(plan)) as unknown };
  } catch (error) {
    if (error instanceof RunbookInvalidError) {
      return {
        diagnostics: error.diagnostics.map((d) => ({ code: d.code, message: d.message, pos: d.message === TOO_DEEP ? 'where the stack ran out' : d.pos ? { file: d.pos.file, line: d.pos.line, col: d.pos.col } : undefined })),
        concealed: { values: error.concealed.values, spans: [...error.concealed.spans] },
      };
    }
    if (error instanceof UsageError) return { usage: error.message };
    throw error;
  }
}

async function sameBothWays(file: string, options?: LoadPlanOptions): Promise<void> {
  const full = await outcome(file, false, options);
  expect(await outcome(file, true, options), file).toEqual(full);
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

describe('the fast parse reads every runbook as yaml does', () => {
  it('every fixture and example: the same plan or the same diagnostics, positions and concealed spans', async () => {
    const files = [...yamlFiles(join(repoRoot, 'test', 'fixtures')), ...yamlFiles(join(repoRoot, 'runbooks')), ...yamlFiles(join(repoRoot, 'examples'))];
    expect(files.length).toBeGreaterThan(80);
    let fast = 0;
    for (const file of files) {
      if (fastYaml(readFileSync(file, 'utf8'))) fast++;
      await sameBothWays(file);
    }
    // Most of them take the fast path, so this compares something.
    expect(fast).toBeGreaterThan(files.length / 2);
  }, 120_000);

  it('with vars files, --var and secrets: the same diagnostics, and the same spans hidden in code frames', async () => {
    const dir = join(repoRoot, 'test', 'fixtures', 'vars');
    for (const runbook of ['runbook.yaml', 'secret-in-message.yaml', 'secret-on-error-line.yaml']) {
      for (const varsFile of readdirSync(dir).filter((f) => f.endsWith('.vars.yaml'))) {
        await sameBothWays(join(dir, runbook), { varsFiles: [join(dir, varsFile)], vars: ['nope=1'] });
      }
    }
  }, 60_000);

  it(`${CASES} mutated runbooks (seed ${SEED}): the same plan or the same diagnostics`, async () => {
    const bases = [SMALL, readFileSync(join(repoRoot, 'runbooks', 'phase1.yaml'), 'utf8')];
    const cases = fc.sample(fc.tuple(fc.nat({ max: bases.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 })), { seed: SEED, numRuns: CASES });
    let fast = 0;
    for (const [n, [base, muts]] of cases.entries()) {
      const file = join(root, `case-${n}.yaml`);
      const bytes = mutate(bases[base]!, muts, root);
      writeFileSync(file, bytes);
      if (fastYaml(bytes.toString('utf8'))) fast++;
      await sameBothWays(file);
    }
    expect(fast).toBeGreaterThan(CASES / 4);
  }, 600_000);

  it('generated runbooks of many changes and steps', async () => {
    for (const [name, text] of [
      ['changes-300.yaml', changesRunbook(300)],
      ['steps-200.yaml', stepsRunbook(200)],
    ] as const) {
      const file = join(root, name);
      writeFileSync(file, text);
      expect(fastYaml(text)).toBeDefined();
      await sameBothWays(file);
    }
  });

  it('plain scalars, keys, anchors and flow collections: data the same as yaml makes, or the fast parse declines', () => {
    const plain = fc.oneof(
      fc.constantFrom('~', 'null', 'Null', 'NULL', '', 'true', 'True', 'FALSE', 'yes', 'on', '0o17', '0x1F', '0b1', '+1', '-0', '1_000', '.5', '1.', '1e3', '1e309', '-1e309', '.inf', '-.Inf', '.NaN', '012', '1:2', '2026-01-01', '<<', '__proto__', 'a b', '"q"', "'s'", '[x]', '{k: v}', '*a', '&a v', '!!str 1', '? k'),
      fc.stringMatching(/^[-+.0-9eExXoOinfaINFA_]{1,8}$/),
      fc.string({ maxLength: 12 }),
    );
    const doc = fc.tuple(fc.array(fc.tuple(plain, plain), { minLength: 1, maxLength: 6 }), fc.boolean()).map(([pairs, flow]) =>
      flow ? `{ ${pairs.map(([k, v]) => `${k}: ${v}`).join(', ')} }\n` : pairs.map(([k, v]) => `${k}: ${v}\n  # c\nx${k.length}: [${v}, &n ${v || 'e'}, *n]`).join('\n') + '\n',
    );
    let fast = 0;
    fc.assert(
      fc.property(doc, (text) => {
        const got = fastYaml(text);
        if (!got) return;
        fast++;
        const parsed = parseDocument(text, { prettyErrors: false, uniqueKeys: false, strict: true, merge: true, logLevel: 'error' });
        expect(parsed.errors.map((e) => e.message), text).toEqual([]);
        expect(structureDiagnostics(parsed, { file: 'x', lines: { linePos: () => ({ line: 1, col: 1 }) } as never, text }), text).toEqual([]);
        expect(got.data, text).toStrictEqual(parsed.toJS({ maxAliasCount: 100 }));
      }),
      { seed: SEED, numRuns: 3000 },
    );
    expect(fast).toBeGreaterThan(300);
  });
});
