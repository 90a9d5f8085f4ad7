import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';

const dir = join(repoRoot, 'test', 'fixtures', 'broken');

/** Each broken runbook: where the problem is (line:col) and words a person understands. */
const cases: [file: string, line: number, col: number, message: RegExp][] = [
  ['01-yaml-syntax.yaml', 3, 10, /YAML syntax error: this "\[" opens a flow list that is never closed with "\]"/],
  ['02-tab-indent.yaml', 4, 1, /tabs are not allowed for indentation/],
  ['03-duplicate-key.yaml', 3, 1, /duplicate key "name" \(first at line 2\)/],
  ['04-empty.yaml', 1, 1, /the file is empty/],
  ['05-not-a-map.yaml', 1, 1, /must be a map .* found a list/],
  ['06-missing-changes.yaml', 1, 1, /missing required key "changes"/],
  ['07-wrong-version.yaml', 1, 10, /runbook must be 1, got 2/],
  ['08-risk-11.yaml', 11, 11, /changes\[1\]\.risk must be between 0 and 10, got 11/],
  ['09-risk-string.yaml', 6, 11, /risk must be a whole number, got the text "high"/],
  ['10-unknown-step-type.yaml', 8, 9, /unknown step type "shell"; expected one of: run, http, file/],
  ['11-two-type-keys.yaml', 9, 9, /step has 2 type keys: run and http — a step has exactly one/],
  ['12-missing-id.yaml', 4, 5, /changes\[0\] is missing required key "id"/],
  ['13-bad-duration.yaml', 11, 18, /timeout must be a duration with a unit such as .*30s.* got number 30/],
  ['14-bad-duration-unit.yaml', 11, 19, /interval must be a duration with a unit .* got "5 minutes"/],
  ['15-bad-size.yaml', 4, 31, /minFree must be a size with a unit .* got "lots"/],
  ['16-undefined-var.yaml', 9, 24, /unknown variable "dri" in template; defined: dir/],
  ['17-duplicate-ids.yaml', 9, 9, /duplicate change id "one" \(first used at line 4\)/],
  ['18-unclosed-template.yaml', 9, 24, /unclosed "\{\{"/],
  ['19-bad-policy.yaml', 3, 22, /onFailure must be one of: rollback-all, rollback-change, rollback-failed, stop — got "panic"/],
  ['20-no-rollback-not-invertible.yaml', 9, 9, /has no rollback, and its apply step 2 \(run\) cannot be undone automatically: add rollback steps, or rollback: \{ none: /],
  ['21-unknown-top-key.yaml', 3, 1, /unknown key "chagnes" in the runbook \(did you mean "changes"\?\).*keys starting with "x-" are free/],
  ['22-unknown-step-key.yaml', 9, 9, /unknown step key "retry"/],
  ['23-empty-apply.yaml', 7, 12, /^\S+ changes\[0\]\.apply must list at least one step$/],
  ['24-bad-id.yaml', 4, 9, /id must be lowercase letters, digits, "\.", "_" or "-", starting with a letter or digit — got "My Change"/],
  ['25-file-two-actions.yaml', 8, 15, /file has both "content" and "absent"; use only one/],
  ['26-http-bad-status.yaml', 10, 53, /status must be between 100 and 599, got 999/],
  ['27-bad-template-expr.yaml', 8, 24, /is not a valid template: expected a variable name/],
  ['28-unknown-filter.yaml', 9, 24, /unknown template filter "upper"/],
  ['29-negative-retries.yaml', 11, 18, /retries must be between 0 and 1000, got -1/],
  ['30-billion-laughs.yaml', 1, 1, /too many YAML aliases/],
  ['31-not-utf8.yaml', 3, 12, /not valid UTF-8/],
  ['32-cron-bad-state.yaml', 8, 79, /cron\.state must be one of: present, absent — got "maybe"/],
  // A map that names none of the actions a step type needs (the schema's oneOf of required keys).
  ['33-run-map-without-command.yaml', 10, 14, /verify\[0\]\.run needs one of: command, argv$/],
  ['34-postgres-without-action.yaml', 10, 19, /verify\[0\]\.postgres needs one of: query, exec, ready$/],
  ['35-git-without-action.yaml', 10, 14, /verify\[0\]\.git needs one of: checkpoint, revert, reset$/],
  ['36-file-nothing-to-do.yaml', 10, 15, /verify\[0\]\.file needs one of: replace, content, line, absent$/],
  // Variables that refer to themselves.
  ['37-var-cycle.yaml', 4, 3, /variable a refers to itself \(a → b → a\)$/],
  ['37-var-cycle.yaml', 6, 3, /variable c refers to itself \(c → c\)$/],
  ['38-ten-self-references.yaml', 13, 3, /variable v9 refers to itself \(v9 → v9\)$/],
  ['39-short-secret.yaml', 4, 11, /secret db_pass has a value shorter than 3 characters: runbook cannot hide a value that short/],
  // A duplicate key no longer hides the other problems.
  ['40-duplicate-key-and-others.yaml', 10, 1, /duplicate key "title" \(first at line 3\)/],
  ['40-duplicate-key-and-others.yaml', 7, 11, /risk must be between 0 and 10, got 11/],
  ['40-duplicate-key-and-others.yaml', 9, 24, /unknown variable "nope"/],
  // Accepted before, failing for certain at apply.
  ['41-invalid-stdout-regex.yaml', 10, 55, /run\.stdout\.matches is not a valid regular expression: unterminated group \(in "\(\[a-z\]"\)/],
  ['42-invalid-http-regex.yaml', 10, 63, /http\.matches is not a valid regular expression: nothing to repeat/],
  ['43-timeout-zero.yaml', 11, 18, /timeout must be longer than 0s/],
  ['44-timeout-overflow.yaml', 11, 18, /timeout is longer than 24 days, the longest duration a timer can hold/],
  ['45-cron-minute-61.yaml', 10, 39, /cron\.schedule is not a valid cron schedule \(.*61.*0-59\): "61 \* \* \* \*"/],
  ['46-cron-not-a-schedule.yaml', 10, 39, /cron\.schedule is not a valid cron schedule \(expected 5 fields/],
  ['47-cron-command-newline.yaml', 10, 61, /cron\.command must be one line/],
  ['48-expect-exit-300.yaml', 10, 47, /run\.expectExit must be between 0 and 255, got 300/],
  ['49-expect-exit-negative.yaml', 10, 51, /run\.expectExit\[1\] must be between 0 and 255, got -1/],
  ['50-http-not-a-url.yaml', 10, 22, /http\.url is not a URL: "not a url"/],
  ['51-postgres-mysql-url.yaml', 10, 26, /postgres\.url must be a PostgreSQL URL, postgres:\/\/user:password@host:port\/database — got "mysql:\/\/x"/],
  ['52-cron-templated-schedule.yaml', 9, 39, /cron\.schedule is not a valid cron schedule .*"61 \* \* \* \*" \(with its templates filled\)/],
  ['69-invalid-file-regexp.yaml', 10, 47, /file\.regexp is not a valid regular expression/],
  ['73-wait-overflow.yaml', 10, 15, /wait is longer than 24 days/],
  // One problem, said once, in words.
  ['53-run-empty-string.yaml', 10, 14, /verify\[0\]\.run must not be empty$/],
  ['54-run-null.yaml', 10, 14, /verify\[0\]\.run must be text, a list or a map, got null$/],
  ['55-run-number.yaml', 10, 14, /verify\[0\]\.run must be text, a list or a map, got number 5$/],
  ['56-env-require-bad-names.yaml', 10, 26, /env\.require\[0\] must be an environment variable name: letters, digits and "_", not starting with a digit — got "lower-case var"$/],
  ['56-env-require-bad-names.yaml', 10, 44, /env\.require\[1\] must be an environment variable name/],
  ['57-run-command-and-argv.yaml', 10, 14, /run has both "command" and "argv"; use only one$/],
  ['58-step-not-a-map.yaml', 10, 9, /verify\[0\] must be a map, got the text "echo hi"$/],
  // Exact positions.
  ['59-complex-key.yaml', 8, 1, /a key must be plain text, not a list/],
  ['60-unclosed-quote.yaml', 2, 7, /this " opens a quoted value that is never closed/],
  ['61-unclosed-flow-map.yaml', 3, 7, /this "\{" opens a flow map that is never closed with "\}"/],
  ['62-undefined-var-in-block-scalar.yaml', 12, 20, /unknown variable "nope"/],
  ['63-undefined-var-after-escapes.yaml', 8, 48, /unknown variable "nope"/],
  ['64-undefined-var-in-multiline-string.yaml', 9, 18, /unknown variable "nope"/],
  ['65-undefined-var-on-long-line.yaml', 8, 5117, /unknown variable "nope"/],
  ['66-empty-rollback.yaml', 9, 15, /change "one" has an empty rollback, so a failure would leave it applied: .*rollback: \{ none: /],
  ['67-merge-key-bad-value.yaml', 4, 12, /verify\[0\]\.retries must be between 0 and 1000, got -1/],
  ['68-unknown-top-key-not-x.yaml', 3, 1, /unknown key "anchors" in the runbook.*keys starting with "x-" are free for YAML anchors/],
  ['70-comments-only.yaml', 1, 1, /there is no runbook in the file/],
  ['71-document-marker-only.yaml', 1, 1, /there is no runbook in the file/],
  ['72-null.yaml', 1, 1, /there is no runbook in the file/],
];

/** How many problems each fixture reports: each problem once. */
const counts: Record<string, number> = {
  '33-run-map-without-command.yaml': 1,
  '36-file-nothing-to-do.yaml': 1,
  '37-var-cycle.yaml': 2,
  '38-ten-self-references.yaml': 10,
  '40-duplicate-key-and-others.yaml': 3,
  '53-run-empty-string.yaml': 1,
  '54-run-null.yaml': 1,
  '55-run-number.yaml': 1,
  '56-env-require-bad-names.yaml': 2,
  '57-run-command-and-argv.yaml': 1,
  '58-step-not-a-map.yaml': 1,
};

describe('runbook validate on broken runbooks', () => {
  it.each(cases)('%s → exit 2 at %i:%i with a clear message', (file, line, col, message) => {
    const path = join(dir, file);
    const r = runCli(['validate', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${path}:${line}:${col}: `);
    const problem = r.stderr.split('\n').find((l) => l.startsWith(`${path}:${line}:${col}: `));
    expect(problem).toMatch(message);
    expect(r.stderr).toMatch(/^\s+\d+ \| /m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr, 'no Node warning reaches the operator').not.toMatch(/\(node:\d+\)|Warning:/);
    expect(r.stdout).toBe('');
  });

  it.each(Object.entries(counts))('%s reports %i problem(s), each once', (file, n) => {
    const r = runCli(['validate', join(dir, file)]);
    expect(r.stderr).toContain(`\n${n} problem${n === 1 ? '' : 's'} found\n`);
  });

  it('reports every problem of a runbook in one pass', () => {
    const r = runCli(['validate', join(dir, '08-risk-11.yaml')]);
    expect(r.stderr).toMatch(/1 problem found/);
    const many = runCli(['validate', join(dir, '11-two-type-keys.yaml')]);
    expect(many.stderr).toMatch(/2 problems found/);
  });

  it('an unknown --var name or a missing file is a usage error, exit 2, no stack', () => {
    const bad = runCli(['plan', join(repoRoot, 'runbooks', 'phase1.yaml'), '--var', 'no-equals']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--var expects key=value/);
    const missing = runCli(['validate', join(dir, 'does-not-exist.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read runbook .*no such file/);
    expect(missing.stderr + bad.stderr).not.toMatch(/\n\s+at /);
  });

  it('an unknown command or flag exits 2 with usage help', () => {
    const r = runCli(['plan', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option|missing required argument/);
  });
});
