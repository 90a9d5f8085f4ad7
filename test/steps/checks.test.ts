import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diskStep } from '../../src/steps/disk.js';
import { envStep, type EnvParams } from '../../src/steps/env.js';
import { waitStep } from '../../src/steps/wait.js';
import { whichStep } from '../../src/steps/which.js';
import { failure, stepCtx } from '../support/step-context.js';

const dir = mkdtempSync(join(tmpdir(), 'runbook-steps-checks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = (raw: unknown, vars: NodeJS.ProcessEnv = {}) => envStep.run(envStep.normalize!(raw) as EnvParams, stepCtx(dir, { env: vars }));

describe('env step: from the environment', () => {
  it('passes when every required variable is set and non-empty', async () => {
    expect((await env(['DB_URL', 'API_KEY'], { DB_URL: 'postgres://x', API_KEY: 'k-123' })).detail).toBe('2 present');
  });

  it('lists every missing or empty name, in order, in one message', async () => {
    const e = await failure(env(['A_SET', 'B_MISSING', 'C_EMPTY', 'D_MISSING'], { A_SET: 'secret-value-a', C_EMPTY: '' }));
    expect(e.message).toBe('missing or empty: B_MISSING, C_EMPTY, D_MISSING');
  });

  it('never shows a value, in the message or in the result', async () => {
    const vars = { TOKEN_ONE: 'tok-value-9f8e7d', TOKEN_TWO: 'tok-value-1a2b3c' };
    const ok = await env(['TOKEN_ONE', 'TOKEN_TWO'], vars);
    expect(JSON.stringify(ok)).not.toMatch(/tok-value/);
    const e = await failure(env(['TOKEN_ONE', 'TOKEN_TWO', 'TOKEN_THREE'], vars));
    expect(JSON.stringify({ message: e.message, command: e.command, tail: e.outputTail })).not.toMatch(/tok-value/);
  });
});

describe('env step: from a .env file', () => {
  const file = join(dir, 'app.env');
  writeFileSync(
    file,
    [
      '# database settings',
      '',
      'DB_URL=postgres://app:pw-in-file-123@127.0.0.1/app',
      'export API_KEY=key-in-file-456',
      'QUOTED_DOUBLE="value with spaces # not a comment"',
      "QUOTED_SINGLE='single'",
      'WITH_COMMENT=plain-value # trailing comment',
      '  INDENTED = spaced-value-789  ',
      'EMPTY=',
      'EMPTY_QUOTED=""',
      '#COMMENTED_OUT=commented-value',
      'not a variable line',
    ].join('\n'),
  );

  it('reads plain, exported, quoted, indented and commented values', async () => {
    const r = await env({ require: ['DB_URL', 'API_KEY', 'QUOTED_DOUBLE', 'QUOTED_SINGLE', 'WITH_COMMENT', 'INDENTED'], file: 'app.env' });
    expect(r.detail).toBe('6 present');
  });

  it('ignores the process environment when a file is given', async () => {
    const e = await failure(env({ require: ['ONLY_IN_PROCESS'], file: 'app.env' }, { ONLY_IN_PROCESS: 'x' }));
    expect(e.message).toBe('missing or empty: ONLY_IN_PROCESS (in app.env)');
  });

  it('counts empty values, empty quotes and commented-out lines as missing, listing all of them', async () => {
    const e = await failure(env({ require: ['DB_URL', 'EMPTY', 'EMPTY_QUOTED', 'COMMENTED_OUT', 'NEVER_DEFINED'], file: 'app.env' }));
    expect(e.message).toBe('missing or empty: EMPTY, EMPTY_QUOTED, COMMENTED_OUT, NEVER_DEFINED (in app.env)');
  });

  it('an empty value followed by a comment is still empty (API_KEY="" # fill me in)', async () => {
    // Documents expected behaviour: .env template lines like these must not count as set.
    writeFileSync(join(dir, 'template.env'), 'API_KEY="" # fill me in\nSECRET=\'\'   # later\nTOKEN= # ask ops\n');
    const e = await failure(env({ require: ['API_KEY', 'SECRET', 'TOKEN'], file: 'template.env' }));
    expect(e.message).toBe('missing or empty: API_KEY, SECRET, TOKEN (in template.env)');
  });

  it('never shows a value from the file', async () => {
    const ok = await env({ require: ['DB_URL', 'API_KEY', 'INDENTED'], file: 'app.env' });
    const e = await failure(env({ require: ['DB_URL', 'API_KEY', 'INDENTED', 'EMPTY'], file: 'app.env' }));
    const shown = JSON.stringify([ok, e.message, e.command, e.outputTail]);
    for (const value of ['pw-in-file-123', 'key-in-file-456', 'spaced-value-789']) expect(shown).not.toContain(value);
  });

  it('a missing .env file fails naming the file', async () => {
    const e = await failure(env({ require: ['A'], file: 'no-such.env' }));
    expect(e.message).toBe('cannot read no-such.env: ENOENT');
  });
});

describe('disk step', () => {
  it('passes with a small minimum and reports the free space in human units', async () => {
    const r = await diskStep.run(diskStep.normalize!({ path: '.', minFree: '1KB' }), stepCtx(dir));
    expect(r.detail).toMatch(/^\d+(\.\d)? (B|KB|MB|GB|TB) free$/);
  });

  it('an absurd minimum fails saying how much is free and how much is needed, in human units', async () => {
    const e = await failure(diskStep.run(diskStep.normalize!({ path: dir, minFree: '900TB' }), stepCtx(dir)));
    expect(e.message).toMatch(new RegExp(`^only \\d+(\\.\\d)? (B|KB|MB|GB|TB) free at ${dir}, need 900 TB$`));
  });

  it('binary units are accepted and shown in decimal units', async () => {
    const e = await failure(diskStep.run(diskStep.normalize!({ path: '.', minFree: '1000TiB' }), stepCtx(dir)));
    expect(e.message).toMatch(/need 1100 TB$/);
  });

  it('a path that does not exist fails naming it', async () => {
    const e = await failure(diskStep.run(diskStep.normalize!({ path: 'no/such/place', minFree: '1KB' }), stepCtx(dir)));
    expect(e.message).toBe('cannot check no/such/place: ENOENT');
  });

  it('a size without a unit is refused when normalised', () => {
    expect(() => diskStep.normalize!({ path: '.', minFree: '5000' })).toThrow(/minFree must be a size with a unit/);
  });
});

describe('which step', () => {
  it('passes when every tool is on PATH and says where', async () => {
    const r = await whichStep.run(whichStep.normalize!(['bash', 'git']), stepCtx(dir));
    expect(r.detail).toMatch(/\/bash, .*\/git$/);
  });

  it('lists every missing tool', async () => {
    const e = await failure(whichStep.run(whichStep.normalize!(['bash', 'no-such-tool-rb1', 'git', 'no-such-tool-rb2']), stepCtx(dir)));
    expect(e.message).toBe('not found on PATH: no-such-tool-rb1, no-such-tool-rb2');
  });

  it('uses the step env PATH, and a file that is not executable does not count', async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'mytool'), '#!/bin/sh\n');
    chmodSync(join(bin, 'mytool'), 0o755);
    writeFileSync(join(bin, 'notexec'), '#!/bin/sh\n');
    chmodSync(join(bin, 'notexec'), 0o644);
    const ctx = stepCtx(dir, { env: { PATH: bin } });
    expect((await whichStep.run(['mytool'], ctx)).detail).toBe(join(bin, 'mytool'));
    const e = await failure(whichStep.run(['mytool', 'notexec', 'bash'], ctx));
    expect(e.message).toBe('not found on PATH: notexec, bash');
  });
});

describe('wait step', () => {
  it('waits the given duration', async () => {
    const started = Date.now();
    await waitStep.run(waitStep.normalize!('150ms'), stepCtx(dir));
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('stops at once when aborted and gives the reason', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('interrupted by SIGINT')), 100);
    const started = Date.now();
    const e = await failure(waitStep.run(waitStep.normalize!('1h'), stepCtx(dir, { signal: controller.signal })));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(e.message).toBe('interrupted by SIGINT');
  });

  it('an already aborted wait fails without waiting', async () => {
    const controller = new AbortController();
    controller.abort();
    const started = Date.now();
    const e = await failure(waitStep.run(waitStep.normalize!('10m'), stepCtx(dir, { signal: controller.signal })));
    expect(Date.now() - started).toBeLessThan(500);
    expect(e.message).toMatch(/abort|interrupt/i);
  });
});
