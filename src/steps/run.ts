import type { StepType } from './contract.js';
import { StepFailedError } from './contract.js';
import { checkText, describeText, textExpectationSchema, type TextExpectation } from './kit/match.js';
import { asMap, regexProblem } from './kit/param-checks.js';
import { commandText } from './kit/process.js';

export interface RunParams {
  /** As executed: template values are passed in environment variables (RUNBOOK_V1, …). */
  command?: string;
  /** The command as shown to people: values quoted, secrets ***. */
  shown?: string;
  argv?: string[];
  expectExit: number[];
  stdout?: TextExpectation;
  stderr?: TextExpectation;
  stdin?: string;
}

export const runStep: StepType<RunParams> = {
  type: 'run',
  summary: 'Run a shell command (bash, pipefail) or an argv command; check its exit code and output.',
  schema: {
    description: 'A shell string, an argv array, or a map with `command`/`argv` and expectations.',
    oneOf: [
      { type: 'string', minLength: 1 },
      { type: 'array', minItems: 1, items: { type: 'string' } },
      {
        type: 'object',
        additionalProperties: false,
        properties: {
          command: { type: 'string', minLength: 1, description: 'Shell command run by bash with pipefail.' },
          argv: { type: 'array', minItems: 1, items: { type: 'string' }, description: 'Program and arguments, run without a shell.' },
          expectExit: {
            description: 'Exit code(s) that count as success (default 0).',
            oneOf: [
              { type: 'integer', minimum: 0, maximum: 255 },
              { type: 'array', items: { type: 'integer', minimum: 0, maximum: 255 }, minItems: 1 },
            ],
          },
          stdout: { ...textExpectationSchema, description: 'Expectation on standard output.' },
          stderr: { ...textExpectationSchema, description: 'Expectation on standard error.' },
          stdin: { type: 'string', description: 'Text written to the command’s standard input.' },
        },
        oneOf: [{ required: ['command'] }, { required: ['argv'] }],
      },
    ],
  },
  templateFields: { '': 'shell', command: 'shell' },
  kind: 'action',
  check(raw) {
    const r = asMap(raw);
    return r ? (['stdout', 'stderr'] as const).flatMap((stream) => regexProblem([stream, 'matches'], asMap(r[stream])?.matches, 'm')) : [];
  },
  normalize(raw) {
    if (typeof raw === 'string') return { command: raw, expectExit: [0] };
    if (Array.isArray(raw)) return { argv: raw as string[], expectExit: [0] };
    const r = raw as Omit<RunParams, 'expectExit'> & { expectExit?: number | number[] };
    const expectExit = r.expectExit === undefined ? [0] : Array.isArray(r.expectExit) ? r.expectExit : [r.expectExit];
    return { ...r, expectExit };
  },
  withShown(p, shown) {
    return p.command !== undefined && shown.command !== p.command ? { ...p, shown: shown.command } : p;
  },
  describe(p) {
    return commandText(p);
  },
  invertible: () => false,
  async run(p, ctx) {
    const result = await ctx.target.exec({
      command: p.command,
      shown: p.shown,
      argv: p.argv,
      cwd: ctx.cwd,
      env: ctx.env,
      signal: ctx.signal,
      onOutput: ctx.output,
      input: p.stdin,
      capture: p.stdout !== undefined || p.stderr !== undefined,
    });
    const shown = commandText(p);
    if (result.exitCode === null || !p.expectExit.includes(result.exitCode)) {
      const how = result.exitCode === null ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
      const expected = p.expectExit.length === 1 && p.expectExit[0] === 0 ? '' : ` (expected ${p.expectExit.join(' or ')})`;
      throw new StepFailedError(`command ${how}${expected}`, { command: shown, exitCode: result.exitCode, outputTail: result.tail });
    }
    for (const [stream, expect] of [
      ['stdout', p.stdout],
      ['stderr', p.stderr],
    ] as const) {
      if (!expect) continue;
      const problem = checkText(stream === 'stdout' ? result.stdout : result.stderr, expect);
      if (problem) throw new StepFailedError(`${stream} ${problem}`, { command: shown, exitCode: result.exitCode, outputTail: result.tail });
    }
    return { detail: p.stdout ? `exit ${result.exitCode}, stdout ${describeText(p.stdout)}` : `exit ${result.exitCode}` };
  },
  async preview(p) {
    return { verdict: 'will run', detail: commandText(p) };
  },
};
