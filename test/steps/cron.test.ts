import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ResolvedStep } from '../../src/model/runbook.js';
import { cronStep, type CronParams } from '../../src/steps/cron.js';
import { stepType } from '../../src/steps/registry.js';
import { crontabText, withCrontab } from '../support/crontab.js';
import { failure, stepCtx } from '../support/step-context.js';

// Every test here runs the real `crontab -l` / `crontab -` inside withCrontab: this test
// process's own cron spool (never the machine's crontab, never another file's), starting empty.

const dir = mkdtempSync(join(tmpdir(), 'runbook-steps-cron-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const UNRELATED = '# m h dom mon dow command\nMAILTO=""\n*/5 * * * * /usr/local/bin/backup --quick\n30 2 * * 0 /usr/bin/logrotate /etc/logrotate.conf # weekly\n';

function setCrontab(text: string): void {
  const r = spawnSync('crontab', ['-'], { input: text, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`crontab - failed: ${r.stderr}`);
}

const params = (raw: Partial<CronParams>): CronParams => cronStep.normalize!(raw);
const apply = (raw: Partial<CronParams>) => cronStep.run(params(raw), stepCtx(dir));

async function runSteps(steps: ResolvedStep[]): Promise<void> {
  for (const s of steps) {
    const type = stepType(s.type)!;
    await type.run(type.normalize ? type.normalize(s.params) : s.params, stepCtx(dir));
  }
}

const nightly = { id: 'nightly-report', schedule: '0 3 * * *', command: '/usr/local/bin/report --all' };
const NIGHTLY_LINE = '0 3 * * * /usr/local/bin/report --all # runbook:nightly-report';

describe('cron step on the real crontab', () => {
  it('adds the entry with its marker after the existing lines, which stay byte-identical', async () => {
    await withCrontab(async () => {
      setCrontab(UNRELATED);
      const r = await apply(nightly);
      expect(r.detail).toBe('written to crontab');
      expect(crontabText()).toEqual({ text: UNRELATED + NIGHTLY_LINE + '\n', exists: true });
    });
  });

  it('applying the same entry again leaves exactly one line and says it is already as wanted', async () => {
    await withCrontab(async () => {
      setCrontab(UNRELATED);
      await apply(nightly);
      const r = await apply(nightly);
      expect(r.detail).toBe('crontab already as wanted');
      const text = crontabText().text;
      expect(text.split('\n').filter((l) => l.includes('# runbook:nightly-report'))).toEqual([NIGHTLY_LINE]);
      expect(text).toBe(UNRELATED + NIGHTLY_LINE + '\n');
    });
  });

  it('a new schedule for the same id replaces its line in place', async () => {
    await withCrontab(async () => {
      setCrontab(UNRELATED);
      await apply(nightly);
      setCrontab(crontabText().text + '15 * * * * /bin/true\n');
      await apply({ ...nightly, schedule: '30 4 * * 1-5' });
      expect(crontabText().text).toBe(UNRELATED + '30 4 * * 1-5 /usr/local/bin/report --all # runbook:nightly-report\n15 * * * * /bin/true\n');
    });
  });

  it('state absent removes only that entry; removing it again changes nothing', async () => {
    await withCrontab(async () => {
      setCrontab(UNRELATED);
      await apply(nightly);
      expect((await apply({ id: 'nightly-report', state: 'absent' })).detail).toBe('removed from crontab');
      expect(crontabText()).toEqual({ text: UNRELATED, exists: true });
      expect((await apply({ id: 'nightly-report', state: 'absent' })).detail).toBe('crontab already as wanted');
      expect(crontabText()).toEqual({ text: UNRELATED, exists: true });
    });
  });

  it('an entry with a similar id is a different entry', async () => {
    await withCrontab(async () => {
      setCrontab(UNRELATED);
      await apply({ ...nightly, id: 'report' });
      await apply(nightly);
      await apply({ id: 'report', state: 'absent' });
      expect(crontabText().text).toBe(UNRELATED + NIGHTLY_LINE + '\n');
    });
  });

  it('the inverse taken before applying restores the prior crontab byte for byte', async () => {
    await withCrontab(async () => {
      setCrontab(UNRELATED);
      const before = crontabText();
      const inverse = await cronStep.inverse!(params(nightly), stepCtx(dir));
      await apply(nightly);
      expect(crontabText()).not.toEqual(before);
      await runSteps(inverse);
      expect(crontabText()).toEqual(before);
      // Idempotent: running the inverse again (rollback after a crash) changes nothing.
      await runSteps(inverse);
      expect(crontabText()).toEqual(before);
    });
  });

  it('the inverse restores "no crontab at all" when there was none', async () => {
    await withCrontab(async () => {
      const before = crontabText();
      expect(before.exists).toBe(false);
      expect(spawnSync('crontab', ['-l'], { encoding: 'utf8' }).stderr).toMatch(/no crontab for/);
      const inverse = await cronStep.inverse!(params(nightly), stepCtx(dir));
      await apply(nightly);
      expect(crontabText()).toEqual({ text: NIGHTLY_LINE + '\n', exists: true });
      await runSteps(inverse);
      expect(crontabText()).toEqual({ text: '', exists: false });
      expect(spawnSync('crontab', ['-l'], { encoding: 'utf8' }).stderr).toMatch(/no crontab for/);
      await runSteps(inverse);
      expect(crontabText().exists).toBe(false);
    });
  });

  it('the inverse restores a pre-existing entry with the same id exactly, at its place', async () => {
    await withCrontab(async () => {
      const oldLine = '45 1 * * *   /opt/old/report   --legacy   # runbook:nightly-report';
      const prior = `${UNRELATED}${oldLine}\n@reboot /usr/bin/startup\n`;
      setCrontab(prior);
      const inverse = await cronStep.inverse!(params(nightly), stepCtx(dir));
      await apply(nightly);
      expect(crontabText().text).toBe(`${UNRELATED}${NIGHTLY_LINE}\n@reboot /usr/bin/startup\n`);
      await runSteps(inverse);
      expect(crontabText()).toEqual({ text: prior, exists: true });
    });
  });

  it('the inverse of removing an entry puts it back', async () => {
    await withCrontab(async () => {
      const prior = `${UNRELATED}${NIGHTLY_LINE}\n`;
      setCrontab(prior);
      const inverse = await cronStep.inverse!(params({ id: 'nightly-report', state: 'absent' }), stepCtx(dir));
      await apply({ id: 'nightly-report', state: 'absent' });
      expect(crontabText().text).toBe(UNRELATED);
      await runSteps(inverse);
      expect(crontabText()).toEqual({ text: prior, exists: true });
    });
  });

  for (const [schedule, why] of [
    ['61 3 * * *', /^invalid cron schedule "61 3 \* \* \*": .+/],
    ['0 3 * *', /^invalid cron schedule "0 3 \* \*": expected 5 fields \(minute hour day month weekday\) or a macro such as @daily$/],
    ['0 3 * * * *', /^invalid cron schedule "0 3 \* \* \* \*": expected 5 fields/],
    ['@sometimes', /^invalid cron schedule "@sometimes"/],
  ] as const) {
    it(`an invalid schedule "${schedule}" changes nothing and says why`, async () => {
      await withCrontab(async () => {
        setCrontab(UNRELATED);
        const e = await failure(apply({ ...nightly, schedule }));
        expect(e.message).toMatch(why);
        expect(e.message).not.toContain('\n');
        expect(crontabText()).toEqual({ text: UNRELATED, exists: true });
      });
    });
  }

  it('an invalid schedule does not create a crontab where there was none', async () => {
    await withCrontab(async () => {
      await failure(apply({ ...nightly, schedule: '61 3 * * *' }));
      expect(crontabText().exists).toBe(false);
    });
  });

  it('a macro schedule such as @daily is accepted', async () => {
    await withCrontab(async () => {
      await apply({ id: 'daily', schedule: '@daily', command: '/bin/true' });
      expect(crontabText().text).toBe('@daily /bin/true # runbook:daily\n');
    });
  });

  it('a command spanning two lines is refused and changes nothing', async () => {
    await withCrontab(async () => {
      setCrontab(UNRELATED);
      const e = await failure(apply({ ...nightly, command: 'echo one\n* * * * * rm -rf /tmp/x' }));
      expect(e.message).toBe('a cron command must be one line');
      expect(crontabText().text).toBe(UNRELATED);
    });
  });

  it('user selects whose crontab (crontab -u), and the inverse names it too', async () => {
    await withCrontab(async () => {
      const me = spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim();
      setCrontab(UNRELATED);
      const inverse = await cronStep.inverse!(params({ ...nightly, user: me }), stepCtx(dir));
      expect(inverse[0]!.params).toMatchObject({ user: me, state: 'absent' });
      expect((await apply({ ...nightly, user: me })).detail).toBe(`written to crontab of ${me}`);
      expect(crontabText().text).toBe(UNRELATED + NIGHTLY_LINE + '\n');
      await runSteps(inverse);
      expect(crontabText()).toEqual({ text: UNRELATED, exists: true });
    });
  });

  it('preview says what would change and changes nothing', async () => {
    await withCrontab(async () => {
      setCrontab(UNRELATED);
      expect(await cronStep.preview!(params(nightly), stepCtx(dir))).toEqual({ verdict: 'will run', detail: 'set entry nightly-report in crontab' });
      expect(crontabText().text).toBe(UNRELATED);
      await apply(nightly);
      expect(await cronStep.preview!(params(nightly), stepCtx(dir))).toEqual({ verdict: 'will run', detail: 'crontab already as wanted' });
    });
  });
});

describe('cron step on a cron.d-style file', () => {
  it('writes the user column (runAs, default root), keeps other lines, and never touches the crontab', async () => {
    await withCrontab(async () => {
      setCrontab(UNRELATED);
      const file = join(dir, 'runbook-jobs');
      writeFileSync(file, 'SHELL=/bin/sh\n0 0 * * * www-data /usr/bin/cleanup\n');
      await apply({ ...nightly, file, runAs: 'postgres' });
      await apply({ id: 'as-root', schedule: '*/10 * * * *', command: '/usr/bin/check', file });
      expect(readFileSync(file, 'utf8')).toBe(
        'SHELL=/bin/sh\n0 0 * * * www-data /usr/bin/cleanup\n0 3 * * * postgres /usr/local/bin/report --all # runbook:nightly-report\n*/10 * * * * root /usr/bin/check # runbook:as-root\n',
      );
      expect(statSync(file).mode & 0o777).toBe(0o644);
      expect(crontabText()).toEqual({ text: UNRELATED, exists: true });
    });
  });

  it('a relative file path is taken from the step cwd', async () => {
    await withCrontab(async () => {
      await apply({ ...nightly, file: 'relative-jobs' });
      expect(readFileSync(join(dir, 'relative-jobs'), 'utf8')).toBe('0 3 * * * root /usr/local/bin/report --all # runbook:nightly-report\n');
      expect(crontabText().exists).toBe(false);
    });
  });

  it('the inverse deletes the file again when it did not exist, and restores its bytes when it did', async () => {
    await withCrontab(async () => {
      const fresh = join(dir, 'fresh-jobs');
      const inverseFresh = await cronStep.inverse!(params({ ...nightly, file: fresh }), stepCtx(dir));
      await apply({ ...nightly, file: fresh });
      expect(existsSync(fresh)).toBe(true);
      await runSteps(inverseFresh);
      expect(existsSync(fresh)).toBe(false);

      const existing = join(dir, 'existing-jobs');
      const prior = '# managed by hand\n5 5 * * * nobody /bin/true # runbook:nightly-report\n';
      writeFileSync(existing, prior);
      const inverse = await cronStep.inverse!(params({ ...nightly, file: existing }), stepCtx(dir));
      await apply({ ...nightly, file: existing });
      expect(readFileSync(existing, 'utf8')).not.toBe(prior);
      await runSteps(inverse);
      expect(readFileSync(existing, 'utf8')).toBe(prior);
    });
  });
});

describe('cron undo byte for byte, and % in commands', () => {
  // A crontab as people keep them: comments, blank lines, environment lines that apply to the entries below them.
  const MIDDLE = '# nightly jobs\nMAILTO=ops@example.com\n\n15 1 * * * /usr/bin/first\n0 3 * * * /usr/local/bin/report --all # runbook:nightly-report\n\n# below: no mail\nMAILTO=""\nPATH=/opt/bin:/usr/bin\n45 4 * * * /usr/bin/last\n';

  it('absent on an entry in the middle, then its inverse: the same crontab, the entry back before the later MAILTO=/PATH= lines', async () => {
    await withCrontab(async () => {
      setCrontab(MIDDLE);
      const inverse = await cronStep.inverse!(params({ id: 'nightly-report', state: 'absent' }), stepCtx(dir));
      await apply({ id: 'nightly-report', state: 'absent' });
      expect(crontabText().text).toBe(MIDDLE.replace('0 3 * * * /usr/local/bin/report --all # runbook:nightly-report\n', ''));
      await runSteps(inverse);
      expect(crontabText()).toEqual({ text: MIDDLE, exists: true });
    });
  });

  it('present replacing an entry in the middle, then its inverse: the same crontab', async () => {
    await withCrontab(async () => {
      setCrontab(MIDDLE);
      const inverse = await cronStep.inverse!(params({ ...nightly, schedule: '30 5 * * *' }), stepCtx(dir));
      await apply({ ...nightly, schedule: '30 5 * * *' });
      expect(crontabText().text).toBe(MIDDLE.replace('0 3 * * * /usr/local/bin/report', '30 5 * * * /usr/local/bin/report'));
      await runSteps(inverse);
      expect(crontabText()).toEqual({ text: MIDDLE, exists: true });
    });
  });

  it('a restored entry finds its place by the line before it when lines above it changed meanwhile', async () => {
    await withCrontab(async () => {
      setCrontab(MIDDLE);
      const inverse = await cronStep.inverse!(params({ id: 'nightly-report', state: 'absent' }), stepCtx(dir));
      await apply({ id: 'nightly-report', state: 'absent' });
      setCrontab(`# added by someone\n${crontabText().text}`);
      await runSteps(inverse);
      expect(crontabText().text).toBe(`# added by someone\n${MIDDLE}`);
    });
  });

  it('a table whose last line has no newline keeps it so: absent of its last entry, and present of a new one, undone byte for byte', async () => {
    // The crontab command refuses such a table ("missing newline before EOF"); cron.d files have them.
    const file = join(dir, 'unterminated-jobs');
    const prior = '# jobs\nMAILTO=""\n0 3 * * * root /usr/local/bin/report --all # runbook:nightly-report\n\n45 4 * * * root /usr/bin/last';
    writeFileSync(file, prior);
    const inverseAbsent = await cronStep.inverse!(params({ id: 'nightly-report', state: 'absent', file }), stepCtx(dir));
    await apply({ id: 'nightly-report', state: 'absent', file });
    expect(readFileSync(file, 'latin1')).toBe('# jobs\nMAILTO=""\n\n45 4 * * * root /usr/bin/last');
    await runSteps(inverseAbsent);
    expect(readFileSync(file, 'latin1')).toBe(prior);

    const inversePresent = await cronStep.inverse!(params({ id: 'new-job', schedule: '5 5 * * *', command: '/usr/bin/new', file }), stepCtx(dir));
    await apply({ id: 'new-job', schedule: '5 5 * * *', command: '/usr/bin/new', file });
    expect(readFileSync(file, 'latin1')).toBe(`${prior}\n5 5 * * * root /usr/bin/new # runbook:new-job\n`);
    await runSteps(inversePresent);
    expect(readFileSync(file, 'latin1')).toBe(prior);

    // The unterminated last line itself, removed and put back.
    const last = join(dir, 'unterminated-last');
    const lastPrior = '# jobs\n0 3 * * * root /usr/local/bin/report --all # runbook:nightly-report';
    writeFileSync(last, lastPrior);
    const inverseLast = await cronStep.inverse!(params({ id: 'nightly-report', state: 'absent', file: last }), stepCtx(dir));
    await apply({ id: 'nightly-report', state: 'absent', file: last });
    expect(readFileSync(last, 'latin1')).toBe('# jobs\n');
    await runSteps(inverseLast);
    expect(readFileSync(last, 'latin1')).toBe(lastPrior);
  });

  it('a literal % in a command is installed as \\% (cron would cut the command there); one already escaped stays as it is', async () => {
    await withCrontab(async () => {
      await apply({ id: 'dated', schedule: '0 1 * * *', command: 'tar czf /backups/$(date +%F).tgz /srv/app' });
      await apply({ id: 'escaped', schedule: '0 2 * * *', command: 'date +\\%s > /tmp/stamp' });
      expect(crontabText().text).toBe('0 1 * * * tar czf /backups/$(date +\\%F).tgz /srv/app # runbook:dated\n0 2 * * * date +\\%s > /tmp/stamp # runbook:escaped\n');
    });
  });
});
