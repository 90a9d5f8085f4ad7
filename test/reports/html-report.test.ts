import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chromium } from '../support/chromium.js';
import { runCli, startCli, waitFor } from '../support/cli.js';

const SECRET = 'tangerine-77c1e0';

/** A preflight check and four changes on four files; change `fail_at`'s verify prints the secret, then fails (with one retry). */
function sandbox(onFailure = 'rollback-all') {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-html-'));
  for (const i of [1, 2, 3, 4]) writeFileSync(join(dir, `c${i}.txt`), `s${i}=old\n`);
  const change = (i: number) => `  - id: change-${i}
    title: Change ${i}
    risk: ${i}
    apply:
      - file: { path: "{{ dir }}/c${i}.txt", replace: { from: s${i}=old, to: s${i}=new } }
    verify:
      - { name: settle ${i}, run: "sleep 0.1" }
      - name: health of change ${i}
        run: "echo checking ${i} with token={{ TOKEN }}; test {{ fail_at }} != ${i} || { echo 'connection lost' >&2; exit 3; }"
        retries: 1
        interval: 100ms
`;
  const runbook = join(dir, 'runbook.yaml');
  writeFileSync(
    runbook,
    `runbook: 1
name: html-report
title: HTML report
vars: { dir: "${dir}", fail_at: "0", TOKEN: "" }
secrets: [TOKEN]
policy: { maxRisk: 5, confirmFrom: 5, onFailure: ${onFailure} }
preflight:
  - { name: files present, run: "test -f {{ dir }}/c1.txt" }
changes:
${[1, 2, 3, 4].map(change).join('')}`,
  );
  const vars = join(dir, 'vars.yaml');
  writeFileSync(vars, `TOKEN: ${SECRET}\n`, { mode: 0o600 });
  return { dir, runbook, vars, html: join(dir, 'report.html') };
}

/** The page's visible text as Chromium built it: the dumped DOM without style, tags and the common entities. */
function pageText(dom: string): string {
  return dom
    .replace(/<style[\s\S]*?<\/style>/g, '')
    .replace(/<title>[\s\S]*?<\/title>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}

describe('runbook report --html: one self-contained page of a run, checked in headless Chromium', () => {
  it('the report of a failed-and-rolled-back run shows the failed step with its output, the rollback and the timeline; Chromium renders it and takes a screenshot', () => {
    const sb = sandbox();
    const applied = runCli(['apply', sb.runbook, '--vars-file', sb.vars, '--var', 'fail_at=3']);
    expect(applied.code, applied.stderr).toBe(1);
    const r = runCli(['report', sb.runbook, '--html', sb.html]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/report of run \S+ written to /);

    const html = readFileSync(sb.html, 'utf8');
    // Self-contained: nothing to fetch, no script; the CSP forbids loading anything anyway.
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(|https?:\/\//i);
    expect(html).toContain(`Content-Security-Policy" content="default-src 'none'`);
    expect(html).toContain('<svg class="timeline"');
    expect(html).not.toContain(SECRET);

    const text = pageText(chromium(sb.html, { dumpDom: true }));
    expect(text).toContain('change-3: verify step 2 "health of change 3" failed');
    expect(text).toContain('connection lost');
    expect(text).toContain('exit code 3');
    expect(text).toContain('token=***');
    expect(text).toMatch(/rollback of change-3, change-2, change-1 — reason: change change-3 failed in verify/);
    for (const id of ['change-3', 'change-2', 'change-1']) expect(text).toMatch(new RegExp(`${id} rolled back \\(\\d+ ms\\)`));
    expect(text).toMatch(/health of change 3 2 FAILED: command exited with code 3/); // the retry, attempt 2
    expect(text).toMatch(/4 change-4 Change 4 4\/10 yellow not run/);
    expect(text).toMatch(/ran by \S+@\S+, pid \d+/);
    expect(text).toContain('environment default');
    expect(text).toMatch(/Total risk: 10\/40 = 25% \(yellow\)/);
    expect(text).not.toContain(SECRET);

    const shot = join(sb.dir, 'report.png');
    chromium(sb.html, { screenshot: shot, size: [1200, 2000] });
    const png = readFileSync(shot);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    // A blank or unstyled page compresses to a few KB; the rendered report (tables, timeline, colours) does not.
    expect(png.length).toBeGreaterThan(40_000);
    if (process.env.RUNBOOK_REPORT_EXAMPLE) writeFileSync(process.env.RUNBOOK_REPORT_EXAMPLE, png);
  });

  it('a later runbook rollback is a part of its own: what it undid and its timeline', () => {
    const sb = sandbox('stop');
    expect(runCli(['apply', sb.runbook, '--vars-file', sb.vars, '--var', 'fail_at=2']).code).toBe(1);
    expect(runCli(['rollback', sb.runbook, '--vars-file', sb.vars]).code).toBe(0);
    const r = runCli(['report', sb.runbook, '--html', sb.html]);
    expect(r.code, r.stderr).toBe(0);
    const text = pageText(chromium(sb.html, { dumpDom: true }));
    expect(text).toMatch(/Apply — \S+ ended stopped exit 1/);
    expect(text).toMatch(/Later rollback \(runbook rollback\), pid \d+ — \S+ ended rolled-back exit 0/);
    expect(text).toMatch(/change-2 rolled back .* change-1 rolled back/);
    expect((readFileSync(sb.html, 'utf8').match(/<svg class="timeline"/g) ?? []).length).toBe(2);
  });

  it('an apply killed with SIGKILL half-way, then rolled back: the report says the apply never finished and shows the rollback as a part of its own', async () => {
    const sb = sandbox();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('  - id: change-2\n', '  - id: change-2\n    rollback:\n      - file: { path: "{{ dir }}/c2.txt", replace: { from: s2=new, to: s2=old } }\n').replace('s2=new } }\n', 's2=new } }\n      - run: "touch {{ dir }}/at-2; sleep 30"\n'));
    const apply = startCli(['apply', sb.runbook, '--vars-file', sb.vars]);
    await waitFor(() => existsSync(join(sb.dir, 'at-2')));
    apply.child.kill('SIGKILL');
    await apply.done;
    spawnSync('pkill', ['-f', `${sb.dir}/at-2`]);
    expect(runCli(['unlock', sb.runbook]).code).toBe(0); // the killed apply's lock
    const rb = runCli(['rollback', sb.runbook, '--vars-file', sb.vars]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(runCli(['report', sb.runbook, '--html', sb.html]).code).toBe(0);
    const text = pageText(chromium(sb.html, { dumpDom: true }));
    expect(text).toContain('this part of the run never finished (the journal ends here: crash or kill)');
    expect(text).toMatch(/Later rollback \(runbook rollback\), pid \d+ — \S+ ended rolled-back exit 0/);
    expect(text).toMatch(/change-2 rolled back .* change-1 rolled back/);
    expect((readFileSync(sb.html, 'utf8').match(/<svg class="timeline"/g) ?? []).length).toBe(2);
  });

  it('no run, an unknown --run and an unwritable --html are usage errors (exit 2), with no stack trace', () => {
    const sb = sandbox();
    const none = runCli(['report', sb.runbook, '--html', sb.html]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no runs of .* yet: nothing to report/);
    expect(runCli(['apply', sb.runbook, '--vars-file', sb.vars]).code).toBe(0);
    const unknown = runCli(['report', sb.runbook, '--run', '20200101T000000.000Z-dead', '--html', sb.html]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no run 20200101T000000\.000Z-dead of .*; runs: \S+/);
    const badDir = runCli(['report', sb.runbook, '--html', join(sb.dir, 'missing', 'r.html')]);
    expect(badDir.code).toBe(2);
    expect(badDir.stderr).toMatch(/--html .*cannot write there/);
    for (const x of [none, unknown, badDir]) expect(x.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(sb.html)).toBe(false);
  });
});
