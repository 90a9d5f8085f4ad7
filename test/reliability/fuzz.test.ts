import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RunbookInvalidError, type Diagnostic } from '../../src/model/diagnostic.js';
import { loadPlan } from '../../src/plan/load-plan.js';
import { repoRoot, startCli, type CliResult } from '../support/cli.js';

/**
 * Hostile and broken input: valid runbooks mutated at random (seeded, reproducible:
 * FUZZ_SEED, FUZZ_CASES in-process, FUZZ_CLI_CASES through the CLI). In-process, every case
 * must end in a valid plan or in diagnostics that each carry a position inside the file —
 * never another exception, never a hang. Through the CLI (`apply`), an invalid runbook must
 * exit 2 with nothing but `file:line:col: message` blocks on stderr, and no step may run:
 * every step of the base runbook leaves a file behind, so a step that ran is seen.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
const CASES = Number(process.env.FUZZ_CASES ?? 1200);
const CLI_CASES = Number(process.env.FUZZ_CLI_CASES ?? 120);
const CLI_WORKERS = Number(process.env.FUZZ_CLI_WORKERS ?? Math.max(2, cpus().length));
const CLI_CASE_TIMEOUT_MS = 30_000;
const root = mkdtempSync(join(tmpdir(), 'runbook-fuzz-'));

/** @DIR@ becomes the case's own directory; every step writes a file there (ran-*, x.txt). */
const SMALL = `runbook: 1
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
const bases = [SMALL, readFileSync(join(repoRoot, 'runbooks', 'phase1.yaml'), 'utf8')];

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

type Mutation =
  | { kind: 'delete'; at: number }
  | { kind: 'duplicate'; at: number }
  | { kind: 'swap'; at: number; with: number }
  | { kind: 'value'; at: number; value: string }
  | { kind: 'bytes'; at: number; bytes: number[] }
  | { kind: 'invalid-utf8'; at: number; which: number }
  | { kind: 'alias-bomb'; at: number; depth: number; width: number }
  | { kind: 'indent'; at: number; by: number }
  | { kind: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
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
function mutate(base: string, muts: Mutation[], dir: string): Buffer {
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

/**
 * Problems that may concern the whole file rather than a spot in it (then reported at 1:1):
 * each must read exactly so. Any message must point inside the file.
 */
const WHOLE_FILE = [/^runbook is \d+\.\d MB; the limit is 10 MB$/, /^the document nests too deeply to read$/, /^too many YAML aliases \(more than 100 expansions\): refusing to expand$/];
const WHOLE_FILE_FAMILY = /MB; the limit is|nests too deeply|YAML aliases|^cannot parse:/;

/** What is wrong with one diagnostic's position and text in `bytes` (the file as written). */
function positionProblems(bytes: Buffer, pos: { line: number; col: number }, message: string): string[] {
  const lines = bytes.toString('latin1').split('\n');
  const problems: string[] = [];
  if (pos.line < 1 || pos.line > lines.length) problems.push(`line ${pos.line} is outside the file's ${lines.length} lines: ${message}`);
  else if (pos.col < 1 || pos.col > lines[pos.line - 1]!.length + 1) problems.push(`column ${pos.col} is outside line ${pos.line} (${lines[pos.line - 1]!.length} bytes): ${message}`);
  if (WHOLE_FILE_FAMILY.test(message) && !WHOLE_FILE.some((w) => w.test(message))) problems.push(`not one of the whole-file messages (exact text): ${message}`);
  if (message === '' || /\n/.test(message)) problems.push(`empty or multi-line message: ${JSON.stringify(message)}`);
  return problems;
}

function diagnosticObjectProblems(file: string, bytes: Buffer, diagnostics: Diagnostic[]): string[] {
  if (diagnostics.length === 0) return ['rejected with no diagnostic'];
  return diagnostics.flatMap((d) => {
    if (!d.pos) return [`no position: ${d.message}`];
    if (d.pos.file !== file) return [`position in another file (${d.pos.file}): ${d.message}`];
    return positionProblems(bytes, d.pos, d.message);
  });
}

/** stderr of an exit-2 run must be `file:line:col: message` blocks (each with an optional code frame), then "N problem(s) found". */
function stderrProblems(file: string, bytes: Buffer, stderr: string): string[] {
  const lines = stderr.split('\n');
  const footer = /^(\d+) problems? found$/.exec(lines[lines.length - 2] ?? '');
  if (!footer || lines[lines.length - 1] !== '') return [`no "N problems found" footer: ${JSON.stringify(stderr.slice(-300))}`];
  const problems: string[] = [];
  let count = 0;
  for (let i = 0; i < lines.length - 2; i++) {
    const m = lines[i]!.startsWith(`${file}:`) ? /^:(\d+):(\d+): (.*)$/.exec(lines[i]!.slice(file.length)) : null;
    if (!m) {
      problems.push(`a line with no file:line:col: ${JSON.stringify(lines[i])}`);
      continue;
    }
    count++;
    problems.push(...positionProblems(bytes, { line: Number(m[1]), col: Number(m[2]) }, m[3]!));
    if (/^ +\d+ \| /.test(lines[i + 1] ?? '') && /^ +\| +\^$/.test(lines[i + 2] ?? '')) i += 2;
  }
  if (count !== Number(footer[1])) problems.push(`${count} positioned messages but the footer says ${footer[1]}`);
  return problems;
}

/** Files a step left in the case directory (everything but the runbook and the state dir). */
function stepTraces(caseDir: string): string[] {
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
  return walk(caseDir)
    .map((f) => relative(caseDir, f))
    .filter((f) => f !== 'runbook.yaml' && !f.startsWith('state/'))
    .sort();
}

interface CliOutcome {
  n: number;
  code: number | null;
  ms: number;
  problems: string[];
}

async function applyCase(n: number, bytes: (dir: string) => Buffer): Promise<CliOutcome & { caseDir: string; r: CliResult }> {
  const caseDir = join(root, `cli-${String(n).padStart(5, '0')}`);
  mkdirSync(caseDir);
  const file = join(caseDir, 'runbook.yaml');
  const written = bytes(caseDir);
  writeFileSync(file, written);
  const started = performance.now();
  const run = startCli(['apply', file, '--yes', '--accept-risk', '--state-dir', join(caseDir, 'state')]);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), CLI_CASE_TIMEOUT_MS);
  const r = await run.done;
  clearTimeout(timer);
  const ms = performance.now() - started;
  const problems: string[] = [];
  if (r.code === null) problems.push(`killed after ${CLI_CASE_TIMEOUT_MS} ms (a hang)`);
  else if (![0, 1, 2, 3].includes(r.code)) problems.push(`exit ${r.code}`);
  if (/\n\s+at |internal error/.test(r.stderr)) problems.push(`a stack trace or internal error: ${r.stderr.slice(0, 500)}`);
  if (r.code === 2) {
    problems.push(...stderrProblems(file, written, r.stderr));
    problems.push(...stepTraces(caseDir).map((f) => `a step ran for an invalid runbook: it left ${f}`));
  }
  return { n, code: r.code, ms, problems, caseDir, r };
}

const cases = fc.sample(fc.tuple(fc.nat({ max: bases.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 })), { seed: SEED, numRuns: CASES });
const cliCases = fc.sample(fc.array(mutation, { minLength: 1, maxLength: 4 }), { seed: SEED + 1, numRuns: CLI_CASES });

describe(`fuzz: ${CASES} mutated runbooks in-process, ${CLI_CASES} through the CLI (seed ${SEED})`, () => {
  it('in-process, each ends in a valid plan or in diagnostics that all point inside the file: no crash, no hang', async () => {
    const dir = join(root, 'in-process');
    mkdirSync(dir);
    let valid = 0;
    let rejected = 0;
    let positioned = 0;
    let crashes = 0;
    let slowest = 0;
    const seen = { encoding: 0, aliases: 0 };
    const failures: string[] = [];
    for (const [n, [base, muts]] of cases.entries()) {
      const file = join(dir, `case-${n}.yaml`);
      const bytes = mutate(bases[base]!, muts, dir);
      writeFileSync(file, bytes);
      const started = performance.now();
      try {
        await loadPlan(file, { env: { PATH: process.env.PATH } });
        valid++;
      } catch (error) {
        if (!(error instanceof RunbookInvalidError)) {
          crashes++;
          failures.push(`case ${n} crashed the loader: ${(error as Error).stack}\nmutations: ${JSON.stringify(muts)}`);
          continue;
        }
        rejected++;
        if (error.diagnostics.some((d) => d.code === 'encoding')) seen.encoding++;
        if (error.diagnostics.some((d) => /YAML aliases/.test(d.message))) seen.aliases++;
        const problems = diagnosticObjectProblems(file, bytes, error.diagnostics);
        if (problems.length === 0) positioned++;
        for (const p of problems) failures.push(`case ${n} (seed ${SEED}): ${p}\nmutations: ${JSON.stringify(muts).slice(0, 300)}`);
      }
      slowest = Math.max(slowest, performance.now() - started);
    }
    process.stdout.write(
      `fuzz in-process: ${CASES} cases, ${rejected} rejected (${positioned} with every message positioned; ${seen.encoding} for invalid UTF-8, ${seen.aliases} alias bombs refused), ` +
        `${valid} valid, ${crashes} crashes, ${failures.length - crashes} other failures, slowest ${slowest.toFixed(0)} ms\n`,
    );
    expect(failures.slice(0, 20)).toEqual([]);
    expect(valid + rejected).toBe(CASES);
    expect(slowest).toBeLessThan(5_000);
    if (CASES >= 1000) {
      // The mutations reach the loader: raw invalid UTF-8 and exponential aliases are among the cases.
      expect(seen.encoding).toBeGreaterThan(CASES / 50);
      expect(seen.aliases).toBeGreaterThan(0);
    }
  }, 900_000);

  it(`through the CLI, ${CLI_CASES} of them in ${CLI_WORKERS} workers: exit 2 with only file:line:col messages and no step run, or a clean run`, async () => {
    const outcomes: CliOutcome[] = [];
    let next = 0;
    const worker = async () => {
      while (next < cliCases.length) {
        const n = next++;
        const { caseDir: _d, r: _r, ...outcome } = await applyCase(n, (dir) => mutate(SMALL, cliCases[n]!, dir));
        outcomes.push(outcome);
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: CLI_WORKERS }, worker));
    const failures = outcomes.filter((o) => o.problems.length > 0);
    const byCode = (c: number | null) => outcomes.filter((o) => o.code === c).length;
    const slowest = outcomes.reduce((a, o) => (o.ms > a.ms ? o : a), outcomes[0]!);
    process.stdout.write(
      `fuzz CLI: ${CLI_CASES} cases in ${((performance.now() - started) / 1000).toFixed(1)} s, ${byCode(2)} rejected with positions and no step run, ` +
        `${byCode(0)} applied, ${byCode(1)} failed and rolled back, ${byCode(3)} rollback failed, ${failures.length} failures, slowest ${slowest.ms.toFixed(0)} ms (case ${slowest.n})\n`,
    );
    expect(failures.slice(0, 10).map((f) => `case ${f.n} (seed ${SEED + 1}, mutations ${JSON.stringify(cliCases[f.n]).slice(0, 300)}): exit ${f.code}: ${f.problems.join('; ')}`)).toEqual([]);
    expect(outcomes).toHaveLength(CLI_CASES);
    expect(byCode(2)).toBeGreaterThan(CLI_CASES / 4);
  }, 1_800_000);

  it('the checks can fail: a valid runbook leaves a trace of every step, and unpositioned stderr is caught', async () => {
    const { code, caseDir, r } = await applyCase(99_999, (dir) => Buffer.from(SMALL.split('@DIR@').join(dir)));
    expect(code, r.stdout + r.stderr).toBe(0);
    expect(stepTraces(caseDir)).toEqual(['ran-apply', 'ran-preflight', 'ran-verify', 'x.txt']);
    const file = join(caseDir, 'runbook.yaml');
    const bytes = readFileSync(file);
    expect(stderrProblems(file, bytes, `${file}:3:1: unknown key\n1 problem found\n`)).toEqual([]);
    expect(stderrProblems(file, bytes, `runbook: something went wrong\n1 problem found\n`)).toEqual(['a line with no file:line:col: "runbook: something went wrong"', '0 positioned messages but the footer says 1']);
    expect(stderrProblems(file, bytes, `${file}:1:1: cannot parse: boom\n1 problem found\n`)).toEqual(['not one of the whole-file messages (exact text): cannot parse: boom']);
    expect(stderrProblems(file, bytes, `${file}:99:1: past the end\n1 problem found\n`)).toEqual([`line 99 is outside the file's ${bytes.toString('latin1').split('\n').length} lines: past the end`]);
  });

  it('found by the fuzz: a syntax error after a folded block scalar is reported on its real line', async () => {
    // The parser's own line count skipped the block's lines here: "vars" was reported 2 lines up.
    const file = join(root, 'folded.yaml');
    writeFileSync(file, '      query: "x"\nname: a\ndescription: >-\n  one\n  two\n\nvars:\n  x: 1\n');
    const r = await startCli(['validate', file]).done;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:7:1: YAML syntax error: Unexpected scalar token in YAML stream: "vars"\n  7 | vars:\n    | ^\n`);
    expect(r.stderr).toContain(`${file}:8:3: YAML syntax error: Unexpected scalar token in YAML stream: "x"\n  8 |   x: 1\n    |   ^\n`);
  });

  it('a 50 MB file is refused at once with a clear message', async () => {
    const file = join(root, 'huge.yaml');
    writeFileSync(file, SMALL + `# ${'x'.repeat(50 * 1024 * 1024)}\n`);
    const started = Date.now();
    const run = startCli(['validate', file]);
    const r = await run.done;
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/huge\.yaml:1:1: runbook is 5\d\.\d MB; the limit is 10 MB/);
    expect(stderrProblems(file, readFileSync(file).subarray(0, 4096), r.stderr)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
