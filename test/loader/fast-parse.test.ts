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
import { redactDeep } from '../../src/secrets/redact.js';
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
    const json = JSON.parse(JSON.stringify(plan)) as unknown;
    // Events copy a plan's steps with Object.entries (redactDeep) before the journal and --json: a position copies whole.
    expect(redactDeep(plan, (text) => text), file).toEqual(json);
    return { plan: json };
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

/** yaml reads `text` without an error or a structure problem, into the same data. */
function expectSameAsYaml(text: string, data: unknown): void {
  const parsed = parseDocument(text, { prettyErrors: false, uniqueKeys: false, strict: true, merge: true, logLevel: 'error' });
  expect(parsed.errors.map((e) => e.message), text).toEqual([]);
  expect(structureDiagnostics(parsed, { file: 'x', lines: { linePos: () => ({ line: 1, col: 1 }) } as never, text }), text).toEqual([]);
  expect(data, text).toStrictEqual(parsed.toJS({ maxAliasCount: 100 }));
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

  it('every fixture with CRLF, a BOM, a carriage return alone, and tabs after its values: the same both ways', async () => {
    // Found this way: js-yaml takes a carriage return alone for a line break, yaml does not (the fast parse declines it).
    const files = [...yamlFiles(join(repoRoot, 'test', 'fixtures')), join(repoRoot, 'runbooks', 'phase1.yaml')];
    for (const source of files) {
      const text = readFileSync(source, 'utf8');
      const variants = { crlf: text.replaceAll('\n', '\r\n'), bom: `\uFEFF${text}`, cr: text.replaceAll('\n', '\r'), tabs: text.replace(/: ([^\n]*)\n/g, ':\t$1\t\n') };
      for (const [name, variant] of Object.entries(variants)) {
        const file = join(root, `${name}-${source.split('/').pop()!}`);
        writeFileSync(file, variant);
        await sameBothWays(file);
      }
    }
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

  it('tricky YAML in every position (escapes, block scalar headers, flow edge cases, odd line breaks and spaces): data the same as yaml makes, or the fast parse declines', () => {
    const values = [
      '"\\x41\\u00e9\\U0001F600\\N\\_\\L\\P\\/\\ \\t\\0\\a\\e"', '"a\\\n  b"', "'it''s'", '|2-\n   x\n  y', '>+\n  a\n\n  b\n\n', '|\n\n  lead\n', '>-\n  folded\n   more\n  back',
      'a #c', 'a#c', 'a: b', '[a, b, ]', '{a, b: }', '[? a : b]', '{? a}', '&x v', '*x', '!!str 1', '! a', '- a', '---', '...', '"multi\n  line"', 'plain\n  continued\n  # comment\n  more',
      'x\u2028y', 'x\u0085y', 'x\u2029y', '"\u2028"', '\ta', 'a\t', '"tab\there"', '@x', '`x', '%x', '|\n  \ttab', '- - a', '[a, [b, {c: d}]]', '{a: [1, 2], b: {c: ~}}', '0x_1', '1__0', '.inf', '-.INF', '012', '+12', '1e3',
      '"\\u00"', '"\\q"', "'a\n\n  b'", '? x', ':x', 'x:', '-x', '- ', '[a]: b', '"k": v', 'a\u00a0b', '\u00a0a', 'a \u3000b', '"\\\\"', '|-\n', '>\n', '"', "'", '[', '{', 'a, b', 'a]', 'a}', '&a [*a]', '&a\n  k: v', '*nope',
    ];
    const docs = values.flatMap((v) => [`vars:\n  v: ${v}\n  w: 1\nlist:\n  - ${v}\n  - z\n`, `a: &x1 anchor\nvars: { v: ${v}, w: *x1 }\n`, `${v}: 1\nk: ${v}\n`, `- ${v}\n- [${v}]\n`, `top:\n    deep: ${v}\n    other: 2\n`]);
    for (const a of values) for (const b of values.slice(0, 30)) docs.push(`k:\n  - ${a}\n  - ${b}\n`);
    const fast = docs.filter((text) => {
      const got = fastYaml(text);
      if (got) expectSameAsYaml(text, got.data);
      return got !== undefined;
    });
    expect(fast.length).toBeGreaterThan(docs.length / 4);
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
        expectSameAsYaml(text, got.data);
      }),
      { seed: SEED, numRuns: 3000 },
    );
    expect(fast).toBeGreaterThan(300);
  });
});
