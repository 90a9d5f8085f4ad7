import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const SECRET = 'hunter2-very-secret';
const ENV_SECRET = 'env-secret-at-plan-time';
const ROTATED = 'env-secret-rotated-since';

/** A runbook with one change that writes `word` (from the vars file) to out.txt, using a secret and an environment variable. */
function sandbox(policy = '') {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-saved-plan-'));
  const runbook = join(dir, 'runbook.yaml');
  writeFileSync(
    runbook,
    `runbook: 1
name: saved-plan
title: Saved plan
vars: { dir: "${dir}", word: default, TOKEN: "" }
secrets: [TOKEN, API_KEY]
policy: { maxRisk: 5, confirmFrom: 3${policy} }
changes:
  - id: write-word
    title: Write the word
    risk: 1
    apply:
      - run: "printf '%s %s' {{ word }} {{ env.SUFFIX }} > {{ dir }}/out.txt; test {{ TOKEN }} = ${SECRET}"
    verify:
      - run: "test -s {{ dir }}/out.txt"
      - run: "test -n {{ env.API_KEY }} && echo key={{ env.API_KEY }}"
    rollback:
      - run: "rm -f {{ dir }}/out.txt"
`,
  );
  const vars = join(dir, 'vars.yaml');
  writeFileSync(vars, `word: planned\nTOKEN: ${SECRET}\n`, { mode: 0o600 });
  const plan = join(dir, 'reviewed.plan.json');
  const out = join(dir, 'out.txt');
  const env = { SUFFIX: 'suffix-a', API_KEY: ENV_SECRET };
  const made = runCli(['plan', runbook, '--vars-file', vars, '--out', plan], { env });
  expect(made.code, made.stderr).toBe(0);
  return { dir, runbook, vars, plan, out, env };
}

/** A refusal: exit 2 before the lock, naming what differs; nothing ran and no run was recorded. */
function expectRefused(r: { code: number | null; stderr: string; stdout: string }, out: string, dir: string, says: RegExp) {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(/refusing saved plan .*nothing was run/);
  expect(r.stderr).toMatch(says);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(existsSync(out)).toBe(false);
  expect(existsSync(join(dir, '.runbook', 'runs'))).toBe(false);
}

describe('saved plans: plan --out, apply PLAN, show PLAN', () => {
  it('a fresh plan applies exactly its content: the vars file and --var it was made with, secrets from the vars file, none written in the plan', () => {
    const sb = sandbox();
    const text = readFileSync(sb.plan, 'utf8');
    expect(text).toMatch(/^\{\s*"runbookPlan": 1,/);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(ENV_SECRET);
    const doc = JSON.parse(text) as { secrets: string[]; environment: string; createdBy: string; runbook: { sha256: string }; varsFiles: { sha256: string }[]; engine: { version: string } };
    expect(doc.secrets).toEqual(['TOKEN', 'API_KEY']);
    expect(doc.environment).toBe('default');
    expect(doc.createdBy).toMatch(/^[^@]+@[^@]+$/);
    expect(doc.runbook.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(doc.varsFiles[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);

    // A secret's value is not part of the plan: rotated since, it is taken from the environment as always (and redacted).
    const r = runCli(['apply', sb.plan], { env: { ...sb.env, API_KEY: ROTATED } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(sb.out, 'utf8')).toBe('planned suffix-a');
    for (const value of [SECRET, ENV_SECRET, ROTATED]) expect(r.stdout + r.stderr).not.toContain(value);
  });

  it('refuses a plan whose runbook was edited since, naming the file and its digest', () => {
    const sb = sandbox();
    writeFileSync(sb.runbook, readFileSync(sb.runbook, 'utf8').replace('risk: 1', 'risk: 2'));
    expectRefused(runCli(['apply', sb.plan], { env: sb.env }), sb.out, sb.dir, new RegExp(`the runbook ${sb.runbook} changed since: its sha256 digest differs`));
  });

  it('refuses a plan whose vars file was edited since, naming the vars file', () => {
    const sb = sandbox();
    writeFileSync(sb.vars, `word: other\nTOKEN: ${SECRET}\n`);
    const r = runCli(['apply', sb.plan], { env: sb.env });
    expectRefused(r, sb.out, sb.dir, new RegExp(`vars file ${sb.vars} changed since: its sha256 digest differs`));
    expect(r.stderr).not.toContain(SECRET);
  });

  it('refuses a plan made for another environment', () => {
    const sb = sandbox();
    expectRefused(runCli(['apply', sb.plan, '--environment', 'prod'], { env: sb.env }), sb.out, sb.dir, /made for environment "default"; this apply is for environment "prod"/);
    expectRefused(runCli(['apply', sb.plan], { env: { ...sb.env, RUNBOOK_ENVIRONMENT: 'staging' } }), sb.out, sb.dir, /this apply is for environment "staging"/);
  });

  it('refuses a plan older than --max-age, or than policy.planMaxAge; a larger --max-age lets it through', () => {
    const sb = sandbox(', planMaxAge: 1h');
    expectRefused(runCli(['apply', sb.plan, '--max-age', '1ms'], { env: sb.env }), sb.out, sb.dir, /old \(made .* by .*\), older than --max-age 1ms/);
    const doc = JSON.parse(readFileSync(sb.plan, 'utf8')) as { createdAt: string };
    doc.createdAt = new Date(Date.now() - 2 * 3_600_000).toISOString();
    writeFileSync(sb.plan, JSON.stringify(doc));
    expectRefused(runCli(['apply', sb.plan], { env: sb.env }), sb.out, sb.dir, /is 1[12]\dm\d+s old .*older than policy\.planMaxAge 60m0s/);
    const r = runCli(['apply', sb.plan, '--max-age', '3h'], { env: sb.env });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(sb.out, 'utf8')).toBe('planned suffix-a');
  });

  it('refuses a plan that resolves differently now (an environment variable changed), naming the step', () => {
    const sb = sandbox();
    expectRefused(runCli(['apply', sb.plan], { env: { ...sb.env, SUFFIX: 'suffix-b' } }), sb.out, sb.dir, /change write-word: apply\[0\]\.params.*suffix-a.*suffix-b/);
  });

  it('refuses --var and --vars-file with a saved plan, and a bad --max-age, as usage errors', () => {
    const sb = sandbox();
    for (const extra of [['--var', 'word=x'], ['--vars-file', sb.vars], ['--max-age', 'soon']]) {
      const r = runCli(['apply', sb.plan, ...extra], { env: sb.env });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/--var and --vars-file are not accepted|--max-age "soon": expected a duration/);
      expect(existsSync(sb.out)).toBe(false);
    }
  });

  it('show prints the saved plan as plan does (table, markdown, json) with who, when, where and whether its files changed', () => {
    const sb = sandbox();
    const table = runCli(['show', sb.plan]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/Saved plan made \S+Z by \S+@\S+ with runbook \S+, for environment default/);
    expect(table.stdout).toMatch(/Total risk: .*1\/10/);
    expect(table.stdout).toContain('(unchanged)');
    expect(table.stdout).toContain('secrets needed at apply (from vars files or the environment): TOKEN, API_KEY');
    const md = runCli(['show', sb.plan, '--format', 'markdown']);
    expect(md.stdout).toMatch(/^> Saved plan made/);
    expect(md.stdout).toContain('Write the word');
    writeFileSync(sb.vars, `word: other\nTOKEN: ${SECRET}\n`);
    const json = runCli(['show', sb.plan, '--format', 'json']);
    const doc = JSON.parse(json.stdout) as { savedPlan: { inputs: { unchanged: boolean }[] }; changes: { id: string }[]; formatVersion: number };
    expect(doc.formatVersion).toBe(2);
    expect(doc.changes.map((c) => c.id)).toEqual(['write-word']);
    expect(doc.savedPlan.inputs.map((i) => i.unchanged)).toEqual([true, false]);
    for (const r of [table, md, json]) for (const value of [SECRET, ENV_SECRET]) expect(r.stdout).not.toContain(value);
    const notPlan = runCli(['show', sb.runbook]);
    expect(notPlan.code).toBe(2);
    expect(notPlan.stderr).toMatch(/is not a saved plan/);
  });
});
