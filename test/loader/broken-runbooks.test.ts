import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';

const dir = join(repoRoot, 'test', 'fixtures', 'broken');

/** Each broken runbook: where the problem is (line:col) and words a person understands. */
const cases: [file: string, line: number, col: number, message: RegExp][] = [
  ['01-yaml-syntax.yaml', 6, 1, /YAML syntax error: Flow map/],
  ['02-tab-indent.yaml', 4, 1, /tabs are not allowed for indentation/],
  ['03-duplicate-key.yaml', 3, 1, /duplicate key/],
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
  ['19-bad-policy.yaml', 3, 22, /onFailure must be one of: rollback-all, rollback-change, stop — got "panic"/],
  ['20-no-rollback-not-invertible.yaml', 9, 9, /has no rollback, and its apply step 2 \(run\) cannot be undone automatically/],
  ['21-unknown-top-key.yaml', 3, 1, /unknown key "chagnes" in the runbook \(did you mean "changes"\?\)/],
  ['22-unknown-step-key.yaml', 9, 9, /unknown step key "retry"/],
  ['23-empty-apply.yaml', 7, 12, /apply must have at least 1 item/],
  ['24-bad-id.yaml', 4, 9, /id must be lowercase letters, digits/],
  ['25-file-two-actions.yaml', 8, 15, /file has both "content" and "absent"; use only one/],
  ['26-http-bad-status.yaml', 10, 53, /status must be between 100 and 599, got 999/],
  ['27-bad-template-expr.yaml', 8, 24, /is not a valid template: expected a variable name/],
  ['28-unknown-filter.yaml', 9, 24, /unknown template filter "upper"/],
  ['29-negative-retries.yaml', 11, 18, /retries must be between 0 and 1000, got -1/],
  ['30-billion-laughs.yaml', 1, 1, /too many YAML aliases/],
  ['31-not-utf8.yaml', 3, 12, /not valid UTF-8/],
  ['32-cron-bad-state.yaml', 8, 79, /cron\.state must be one of: present, absent — got "maybe"/],
];

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
    expect(r.stdout).toBe('');
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
