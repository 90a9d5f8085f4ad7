import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadPlan } from '../../src/engine/load-plan.js';
import { RunbookInvalidError, UsageError } from '../../src/model/diagnostic.js';
import { repoRoot, runCliAsync } from '../support/cli.js';

/**
 * Hostile and broken input: valid runbooks mutated at random (seeded, reproducible:
 * FUZZ_SEED, FUZZ_CASES). Every case must end in a valid plan or in diagnostics with a
 * position inside the file — never another exception, never a hang.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
const CASES = Number(process.env.FUZZ_CASES ?? 1200);
const dir = mkdtempSync(join(tmpdir(), 'runbook-fuzz-'));
const marker = join(dir, 'EXECUTED');

const small = `runbook: 1
name: fuzz
vars: { dir: "${dir}", n: 3 }
secrets: [token]
policy: { maxRisk: 10, confirmFrom: 11, onFailure: rollback-all }
preflight:
  - which: [bash]
changes:
  - id: one
    title: One
    risk: 1
    apply:
      - run: "touch ${marker}"
        timeout: 5s
      - file: { path: "{{ dir }}/x.txt", content: "{{ n }}" }
    verify:
      - run: { command: "cat {{ dir }}/x.txt", stdout: { contains: "3" } }
        retries: 1
        interval: 10ms
    rollback:
      - file: { path: "{{ dir }}/x.txt", absent: true }
`;
const bases = [small, readFileSync(join(repoRoot, 'runbooks', 'phase1.yaml'), 'utf8')];

const scalar = fc.oneof(
  fc.constantFrom('null', 'true', '-1', '11', '1e309', '"{{ nope }}"', '"{{ dir"', '[]', '{}', '[1, [2, [3]]]', '&a x', '*a', '!!binary aGk=', "'", '"', '{{', ':', '- x', '? x'),
  fc.string({ maxLength: 40 }).map((s) => JSON.stringify(s)),
  fc.integer().map(String),
  fc.constantFrom('x'.repeat(100_000), '['.repeat(5000) + ']'.repeat(5000), 'a: &a [' + '*a,'.repeat(50) + ']'),
);

type Mutation =
  | { kind: 'delete'; at: number }
  | { kind: 'duplicate'; at: number }
  | { kind: 'swap'; at: number; with: number }
  | { kind: 'value'; at: number; value: string }
  | { kind: 'bytes'; at: number; bytes: number[] }
  | { kind: 'indent'; at: number; by: number }
  | { kind: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ kind: fc.constant('value' as const), at: fc.nat(), value: scalar }),
  fc.record({ kind: fc.constant('bytes' as const), at: fc.nat(), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('indent' as const), at: fc.nat(), by: fc.integer({ min: -4, max: 4 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(text: string, muts: Mutation[]): Buffer {
  let lines = text.split('\n');
  let raw: Buffer | undefined;
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
        lines[i] = (lines[i] ?? '').replace(/:\s.*$/, `: ${m.value}`);
        break;
      case 'indent':
        lines[i] = m.by >= 0 ? ' '.repeat(m.by) + (lines[i] ?? '') : (lines[i] ?? '').slice(-m.by);
        break;
      case 'truncate':
        lines = lines.slice(0, i);
        break;
      case 'bytes': {
        const buf = Buffer.from(lines.join('\n'));
        const at = m.at % Math.max(1, buf.length);
        raw = Buffer.concat([buf.subarray(0, at), Buffer.from(m.bytes), buf.subarray(at)]);
        lines = raw.toString('latin1').split('\n');
        break;
      }
    }
  }
  return raw && muts[muts.length - 1]?.kind === 'bytes' ? raw : Buffer.from(lines.join('\n'));
}

const cases = fc.sample(fc.tuple(fc.nat({ max: bases.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 })), { seed: SEED, numRuns: CASES });

describe(`fuzz: ${CASES} mutated runbooks (seed ${SEED})`, () => {
  it('each ends in a valid plan or in positioned diagnostics: no crash, no hang', async () => {
    let invalid = 0;
    let valid = 0;
    let slowest = 0;
    for (const [n, [base, muts]] of cases.entries()) {
      const file = join(dir, `case-${n}.yaml`);
      const bytes = mutate(bases[base]!, muts);
      writeFileSync(file, bytes);
      const lineCount = bytes.toString('utf8').split('\n').length;
      const started = performance.now();
      try {
        await loadPlan(file, { env: { PATH: process.env.PATH } });
        valid++;
      } catch (error) {
        if (!(error instanceof RunbookInvalidError) && !(error instanceof UsageError)) {
          throw new Error(`case ${n} (seed ${SEED}) crashed the loader: ${(error as Error).stack}\nmutations: ${JSON.stringify(muts)}`);
        }
        if (error instanceof RunbookInvalidError) {
          for (const d of error.diagnostics) {
            expect(d.message.length, `case ${n}`).toBeGreaterThan(0);
            expect(d.message, `case ${n}`).not.toMatch(/\n\s+at /);
            if (d.pos) {
              expect(d.pos.line, `case ${n}: ${d.message}`).toBeGreaterThanOrEqual(1);
              expect(d.pos.line, `case ${n}: ${d.message}`).toBeLessThanOrEqual(lineCount + 1);
              expect(d.pos.col, `case ${n}: ${d.message}`).toBeGreaterThanOrEqual(1);
            }
          }
          expect(error.diagnostics.some((d) => d.pos), `case ${n}: ${error.message}`).toBe(true);
        }
        invalid++;
      }
      slowest = Math.max(slowest, performance.now() - started);
    }
    expect(valid + invalid).toBe(CASES);
    expect(slowest).toBeLessThan(5_000);
    expect(existsSync(marker)).toBe(false);
    process.stdout.write(`fuzz: ${CASES} cases, ${invalid} rejected with positions, ${valid} valid, 0 crashes, slowest ${slowest.toFixed(0)} ms\n`);
  }, 600_000);

  it('through the CLI, a sample of them: exit 2 with file:line:col and no stack trace, or a clean run; no step runs for an invalid runbook', async () => {
    // Only the small runbook goes through a real apply (the phase1 one would reach the machine's crontab).
    const sample = cases.filter(([base]) => base === 0).slice(0, 40);
    let rejected = 0;
    for (const [n, [, muts]] of sample.entries()) {
      const file = join(dir, `cli-${n}.yaml`);
      writeFileSync(file, mutate(small, muts));
      rmSync(marker, { force: true });
      const r = await runCliAsync(['apply', file, '--yes', '--accept-risk', '--state-dir', join(dir, `state-${n}`)]);
      expect([0, 1, 2], `case ${n}: ${r.stderr}`).toContain(r.code);
      expect(r.stderr, `case ${n}`).not.toMatch(/\n\s+at |internal error/);
      if (r.code === 2) {
        rejected++;
        expect(r.stderr, `case ${n}`).toMatch(/:\d+:\d+: |runbook: /);
        expect(existsSync(marker), `case ${n}: a step ran for an invalid runbook`).toBe(false);
      }
    }
    expect(rejected).toBeGreaterThan(10);
  }, 300_000);

  it('a 50 MB file is refused at once with a clear message', async () => {
    const file = join(dir, 'huge.yaml');
    writeFileSync(file, small + `# ${'x'.repeat(50 * 1024 * 1024)}\n`);
    const started = Date.now();
    const r = await runCliAsync(['validate', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/huge\.yaml:1:1: runbook is 5\d\.\d MB; the limit is 10 MB/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
