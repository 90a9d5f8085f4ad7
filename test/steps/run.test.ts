import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runStep, type RunParams } from '../../src/steps/run.js';
import { failure, stepCtx } from '../support/step-context.js';

const dir = mkdtempSync(join(tmpdir(), 'runbook-steps-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const params = (raw: unknown): RunParams => runStep.normalize!(raw);
const run = (raw: unknown, overrides: Parameters<typeof stepCtx>[1] = {}) => runStep.run(params(raw), stepCtx(dir, overrides));

/** Command lines of live processes matching `pattern` (pgrep -f), excluding pgrep itself. */
function survivors(pattern: string): string[] {
  const r = spawnSync('pgrep', ['-af', pattern], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .filter((l) => !/pgrep/.test(l));
}

async function noSurvivors(pattern: string, withinMs = 1000): Promise<string[]> {
  const end = Date.now() + withinMs;
  let left = survivors(pattern);
  while (left.length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    left = survivors(pattern);
  }
  return left;
}

describe('run step: exit codes', () => {
  it('a shell string that exits 0 succeeds', async () => {
    expect((await run('true')).detail).toBe('exit 0');
  });

  it('a non-zero exit fails with the command, the exit code and the tail of the output', async () => {
    const e = await failure(run('echo preparing; echo "disk quota exceeded" >&2; exit 3'));
    expect(e.message).toBe('command exited with code 3');
    expect(e.command).toBe('echo preparing; echo "disk quota exceeded" >&2; exit 3');
    expect(e.exitCode).toBe(3);
    expect(e.outputTail).toContain('preparing');
    expect(e.outputTail).toContain('disk quota exceeded');
    expect(e.timedOut).toBe(false);
  });

  it('the output tail keeps the last lines of a long output', async () => {
    const e = await failure(run('for i in $(seq 1 500); do echo line-$i; done; exit 1'));
    expect(e.outputTail).toMatch(/line-500$/);
    expect(e.outputTail).not.toContain('line-1\n');
    expect(e.outputTail!.split('\n').length).toBeLessThanOrEqual(40);
  });

  it('expectExit lists the exit codes that count as success', async () => {
    expect((await run({ command: 'exit 2', expectExit: [0, 2] })).detail).toBe('exit 2');
    expect((await run({ command: 'exit 1', expectExit: 1 })).detail).toBe('exit 1');
    const e = await failure(run({ command: 'exit 0', expectExit: [1, 2] }));
    expect(e.message).toBe('command exited with code 0 (expected 1 or 2)');
    expect(e.exitCode).toBe(0);
  });

  it('bash runs with pipefail: a failure early in a pipeline fails the step', async () => {
    const e = await failure(run('false | cat'));
    expect(e.exitCode).toBe(1);
  });

  it('a command killed by a signal fails saying so', async () => {
    const e = await failure(run('kill -KILL $$'));
    expect(e.message).toBe('command was killed by SIGKILL');
    expect(e.exitCode).toBeNull();
  });

  it('runs in the step cwd with the step env', async () => {
    const r = await run({ command: 'test "$(pwd)" = "$EXPECTED_DIR" && test "$GREETING" = hello' }, { env: { ...process.env, EXPECTED_DIR: dir, GREETING: 'hello' } });
    expect(r.detail).toBe('exit 0');
  });

  it('sends stdin to the command', async () => {
    await run({ command: 'read line; test "$line" = "from stdin"', stdin: 'from stdin\n' });
  });

  it('streams live output to the context', async () => {
    const ctx = stepCtx(dir);
    await runStep.run(params('echo live-one; echo live-two'), ctx);
    expect(ctx.out.join('')).toBe('live-one\nlive-two\n');
  });
});

describe('run step: argv form', () => {
  it('runs the program without a shell: metacharacters are plain arguments', async () => {
    const marker = join(dir, 'pwned');
    const r = await run({ argv: ['echo', `a; touch ${marker}`, '$HOME'], stdout: { equals: `a; touch ${marker} $HOME` } });
    expect(r.detail).toContain('exit 0');
    expect(() => readFileSync(marker)).toThrow();
  });

  it('the array shorthand is an argv', async () => {
    const script = join(dir, 'argv.sh');
    writeFileSync(script, 'exit 0\n');
    expect((await run(['bash', script])).detail).toBe('exit 0');
  });

  it('a failing argv command shows the command with arguments quoted where needed', async () => {
    const e = await failure(run({ argv: ['bash', '-c', 'echo out; exit 4'] }));
    expect(e.command).toBe("bash -c 'echo out; exit 4'");
    expect(e.exitCode).toBe(4);
    expect(e.outputTail).toBe('out');
  });

  it('a program that does not exist fails with "command not found"', async () => {
    const e = await failure(run({ argv: ['no-such-program-runbook-xyz', '--flag'] }));
    expect(e.message).toBe('command not found: no-such-program-runbook-xyz');
    expect(e.command).toBe('no-such-program-runbook-xyz --flag');
  });
});

describe('run step: output expectations', () => {
  it('stdout contains', async () => {
    await run({ command: 'echo "status: healthy (3 nodes)"', stdout: { contains: 'healthy' } });
    const e = await failure(run({ command: 'echo "status: degraded"', stdout: { contains: 'healthy' } }));
    expect(e.message).toBe('stdout does not contain "healthy"');
    expect(e.command).toBe('echo "status: degraded"');
    expect(e.exitCode).toBe(0);
    expect(e.outputTail).toBe('status: degraded');
  });

  it('stdout matches a regular expression (multi-line)', async () => {
    await run({ command: 'printf "a\\nversion 2.14.1\\nb\\n"', stdout: { matches: '^version 2\\.\\d+' } });
    const e = await failure(run({ command: 'echo version 1.9', stdout: { matches: '^version 2\\.\\d+' } }));
    expect(e.message).toBe('stdout does not match /^version 2\\.\\d+/');
  });

  it('stdout equals compares the trimmed output', async () => {
    await run({ command: 'echo "  ok  "; echo', stdout: { equals: 'ok' } });
    const e = await failure(run({ command: 'echo nope', stdout: { equals: 'ok' } }));
    expect(e.message).toBe('stdout is "nope", expected "ok"');
  });

  it('stderr expectations look at stderr only', async () => {
    await run({ command: 'echo warning-here >&2', stderr: { contains: 'warning-here' } });
    const e = await failure(run({ command: 'echo only-on-stdout', stderr: { contains: 'only-on-stdout' } }));
    expect(e.message).toBe('stderr does not contain "only-on-stdout"');
  });

  it('the exit code is checked before the output', async () => {
    const e = await failure(run({ command: 'echo healthy; exit 1', stdout: { contains: 'healthy' } }));
    expect(e.message).toBe('command exited with code 1');
  });
});

describe('run step: timeout and interrupt', () => {
  it('a timeout kills the whole process group, including background children', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const timer = setTimeout(() => controller.abort(new Error('timed out after 200ms')), 200);
    const e = await failure(run('sleep 97.123 & sleep 97.123 & wait', { signal: controller.signal }));
    clearTimeout(timer);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(e.message).toBe('timed out after 200ms');
    expect(e.timedOut).toBe(true);
    expect(e.exitCode).toBeNull();
    expect(e.command).toBe('sleep 97.123 & sleep 97.123 & wait');
    expect(await noSurvivors('sleep 97.123')).toEqual([]);
  });

  it('children that ignore SIGTERM are killed too (SIGKILL after the grace period)', async () => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('interrupted')), 200);
    const e = await failure(run('trap "" TERM; sleep 97.456 & sleep 97.456 & wait', { signal: controller.signal }));
    clearTimeout(timer);
    expect(e.message).toBe('interrupted');
    expect(e.timedOut).toBe(false);
    expect(await noSurvivors('sleep 97.456')).toEqual([]);
  });

  it('a signal already aborted starts nothing', async () => {
    const controller = new AbortController();
    controller.abort(new Error('timed out'));
    const marker = join(dir, 'should-not-exist');
    const e = await failure(run(`touch ${marker}`, { signal: controller.signal }));
    expect(e.timedOut).toBe(true);
    expect(() => readFileSync(marker)).toThrow();
  });
});

describe('run step: preview', () => {
  it('says it will run the command', async () => {
    expect(await runStep.preview!(params({ argv: ['systemctl', 'restart', 'my app'] }), stepCtx(dir))).toEqual({ verdict: 'will run', detail: "systemctl restart 'my app'" });
  });
});
