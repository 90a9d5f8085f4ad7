import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { loadPlan } from '../../src/plan/load-plan.js';
import { renderPlanTable } from '../../src/render/plan/plan-table.js';
import { createRedactor } from '../../src/secrets/redact.js';
import { cliPath, repoRoot, runCli } from '../support/cli.js';

const fixture = (name: string) => join(repoRoot, 'test', 'fixtures', 'plan', name);
const phase1 = join(repoRoot, 'runbooks', 'phase1.yaml');
const tableLines = (text: string) => text.split('\n').filter((l) => /^[│┌├└]/.test(l));

describe('plan table', () => {
  it('keeps one line per change and aligned columns with line breaks, tabs, escape codes and zero-width characters in the text', () => {
    const r = runCli(['plan', fixture('control-chars.yaml')]);
    expect(r.code).toBe(0);
    const rows = tableLines(r.stdout);
    expect(rows).toHaveLength(3 + 1 + 3);
    expect(new Set(rows.map((l) => stringWidth(l))).size).toBe(1);
    const unsafe = [...r.stdout].filter((c) => c !== '\n' && /[\p{Cc}\u200b\u202e\ufeff]/u.test(c));
    expect(unsafe).toEqual([]);
    expect(r.stdout).toContain('First line second line');
    expect(r.stdout).toContain('family 👨‍👩‍👧 and flag 🇷🇺');
    expect(r.stdout).toContain('␛[31min red␛[0m');
  });

  it('fits an 80-column terminal: every line fits and the table stays aligned, nothing is lost', async () => {
    const plan = await loadPlan(phase1);
    const text = renderPlanTable(plan, createRedactor([]), { width: 80 });
    for (const line of text.split('\n')) expect(stringWidth(line)).toBeLessThanOrEqual(80);
    const rows = tableLines(text);
    expect(new Set(rows.map((l) => stringWidth(l))).size).toBe(1);
    const cells = rows.join(' ').replace(/[│┌├└┐┤┘┬┼┴─]/g, ' ').replace(/\s+/g, ' ');
    for (const words of ['Automatic DB backups (cron)', 'UI served; polls every 5 s']) {
      for (const word of words.split(' ')) expect(cells).toContain(word);
    }
    expect(text).toContain('3/40 = 7.5%');
  });

  it('on a real 80-column terminal the CLI fits it; in a pipe it keeps the full width', () => {
    const tty = spawnSync('script', ['-qc', `stty cols 80 rows 50; ${process.execPath} ${cliPath} plan ${phase1}`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, CI: '' } });
    const lines = tty.stdout.replace(/\r/g, '').split('\n');
    expect(tty.stdout).toContain('3/40 = 7.5%');
    for (const line of lines) expect(stringWidth(line)).toBeLessThanOrEqual(80);
    const piped = runCli(['plan', phase1]);
    expect(Math.max(...piped.stdout.split('\n').map((l) => stringWidth(l)))).toBeGreaterThan(100);
  });

  it('says what each preflight check checks, not only its name', () => {
    const r = runCli(['plan', phase1]);
    expect(r.stdout).toMatch(/• Free disk space \(seed: 61 GB free\): ≥ [\d.]+ GB free at /);
    expect(r.stdout).toMatch(/• Critical environment variables present in \.env: JWT_SECRET, POSTGRES_URL, POSTGRES_PASSWORD set in /);
  });
});

describe('plan --format markdown', () => {
  const md = () => runCli(['plan', fixture('outside-policy.yaml'), '--format', 'markdown']).stdout;

  it('gives the computed policy verdict, and the runbook\'s verdict only as the author\'s assessment', () => {
    const text = md();
    expect(text).toContain('**Verdict:** ⚠️ outside policy');
    expect(text).not.toMatch(/\*\*Verdict:\*\*[^\n]*SAFE TO APPLY/);
    expect(text).toContain("**Author's assessment** (as written in the runbook; `runbook plan` did not check it): SAFE TO APPLY: every check passes");
    const verdict = text.split('## Verdict')[1]!;
    expect(verdict).toMatch(/^\n\n⚠️ \*\*Outside policy\.\*\* Total risk 8\/10 = 80%; 1 change above maxRisk 2 \(risky\): apply needs --accept-risk; .*\.\n/);
    expect(verdict.indexOf('Outside policy')).toBeLessThan(verdict.indexOf('SAFE TO APPLY'));
  });

  it('labels the runbook\'s state as written at analysis time, not as a live measurement', () => {
    expect(md()).toContain('**State at analysis time** (as written in the runbook, not measured now):');
  });

  it('text from the runbook cannot add headings, lists, links or HTML, nor break a code span', () => {
    const text = md();
    const lines = text.replace(/^(`{3,})\n[\s\S]*?\n\1$/gm, '').split('\n');
    expect(lines.filter((l) => l.startsWith('## ')).map((l) => l.slice(3))).toEqual(['Current state and preflight', 'Analysis of each change', 'Risk table', 'Apply plan', 'Verdict']);
    expect(lines.filter((l) => l.startsWith('#'))).toHaveLength(1 + 5 + 1);
    expect(text).toContain('- first line\n  \\## not a heading either\n  \\- not a list item');
    expect(text).toContain('\\[a link\\](http://example.invalid) and \\<b>html\\</b>');
    expect(text).toContain('- apply: ``label with `backticks` ## Injected from a label``');
    expect(text).toContain('# Risky \\`change\\` with \\*\\*markdown\\*\\*');
    expect(text).toContain('````\nDisk: 61 GB free\n```\n## not a heading\n````');
  });

  it('prints no empty section and does not promise a verification a change does not have', () => {
    const text = md();
    expect(text).not.toContain('## Checks');
    expect(text).not.toContain('## Problems and fixes');
    expect(text).not.toContain('then verify');
    expect(text).toContain('Apply 1. Drop the old table ## Injected heading (no verify steps)');
  });

  it('phase1 keeps the seed document\'s sections and says the verdict is within policy', () => {
    const text = runCli(['plan', phase1, '--format', 'markdown']).stdout;
    expect(text).toContain('**Verdict:** ✅ within policy — total risk 🟢 **3/40 = 7.5%**');
    expect(text).toContain('Apply 2. DB pool tuning · risk very low, then verify (5 checks)');
    expect(text).toMatch(/- \*\*Free disk space \(seed: 61 GB free\)\*\* — `≥ [\d.]+ GB free at /);
  });
});

describe('plan --format json', () => {
  type Doc = {
    formatVersion: number;
    authorVerdict: string | null;
    state: string[];
    preflight: { label: string; checks: string }[];
    changes: { verifiedBy: string | null; does: string[]; breaks: { what: string; probability: string | null; fix: string | null }[]; protections: string[]; benefits: string[]; rollback: { automatic: boolean; steps: { type: string; label: string }[] }; impact: string | null }[];
    troubleshooting: { title: string }[];
    expected: { metric: string }[];
  };

  it('has what the table and the report show: verified by, the analysis texts, the author\'s verdict', () => {
    const doc = JSON.parse(runCli(['plan', phase1, '--format', 'json']).stdout) as Doc;
    expect(doc.formatVersion).toBe(2);
    expect(doc.changes.map((c) => c.verifiedBy)).toEqual(['ls backups/auto/: a complete dump', 'connection logs; /health pool', 'container start; no FATAL', 'UI served; polls every 5 s']);
    expect(doc.changes[1]!.does).toContain('Sets the pool\'s max connections: 10');
    expect(doc.changes[1]!.breaks[0]).toEqual({ what: 'Occasional reconnects after long pauses between queries', probability: '<5%', fix: 'Raise idleTimeoutMillis to 60000 if it happens' });
    expect(doc.changes[0]!.protections.length).toBeGreaterThan(0);
    expect(doc.changes[1]!.benefits.length).toBeGreaterThan(0);
    expect(doc.authorVerdict).toMatch(/^SAFE TO APPLY/);
    expect(doc.state[0]).toMatch(/^Disk:/);
    expect(doc.troubleshooting).toHaveLength(3);
    expect(doc.expected.map((e) => e.metric)).toContain('Backups');
    expect(doc.preflight[0]).toMatchObject({ type: 'which', label: 'Programs the steps need: git (checkpoint), crontab (auto-backups)' });
    expect(doc.preflight[2]).toMatchObject({ label: 'Free disk space (seed: 61 GB free)', checks: expect.stringMatching(/GB free at/) });
  });

  it('rollback always has one shape: automatic inverses or explicit steps, each as a list of steps', () => {
    const doc = JSON.parse(runCli(['plan', phase1, '--format', 'json']).stdout) as Doc;
    expect(doc.changes[0]!.rollback).toEqual({ automatic: true, how: 'automatic', steps: [{ type: 'cron', label: 'undo: Schedule it nightly at 03:00' }, { type: 'file', label: 'undo: Install the backup script' }] });
    expect(doc.changes[1]!.rollback.automatic).toBe(false);
    expect(doc.changes[1]!.rollback.steps.map((s) => s.label)).toEqual(['Restore the default pool in auth.js', 'Rebuild and restart system-api']);
  });

  it('uses null for what the runbook does not say', () => {
    const doc = JSON.parse(runCli(['plan', fixture('outside-policy.yaml'), '--format', 'json']).stdout) as Doc;
    expect(doc.changes[0]!.verifiedBy).toBeNull();
    expect(JSON.parse(runCli(['plan', fixture('outside-policy.yaml'), '--format', 'json']).stdout).changes[0].rollbackTime).toBeNull();
  });
});

describe('plan exit codes', () => {
  it('an outside-policy plan exits 0 (it is shown), and 1 with --strict for CI gates', () => {
    expect(runCli(['plan', fixture('outside-policy.yaml')]).code).toBe(0);
    const strict = runCli(['plan', fixture('outside-policy.yaml'), '--strict']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/outside policy \(--strict\): 1 change above maxRisk 2/);
    expect(runCli(['plan', phase1, '--strict']).code).toBe(0);
  });

  it('--check with --format json keeps stdout one JSON document, with the live results in it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-plan-check-'));
    const runbook = join(dir, 'r.yaml');
    writeFileSync(runbook, 'runbook: 1\nname: r\npreflight:\n  - which: [bash]\n  - { name: A tool that is missing, which: [no-such-tool-here] }\nchanges:\n  - { id: a, title: A, risk: 0, apply: [ { run: "true" } ], rollback: [ { run: "true" } ] }\n');
    const r = runCli(['plan', runbook, '--check', '--format', 'json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { check: { ok: boolean; results: { label: string; ok: boolean; detail: string | null }[] } };
    expect(doc.check.ok).toBe(false);
    expect(doc.check.results.map((x) => [x.label, x.ok])).toEqual([['bash installed', true], ['A tool that is missing', false]]);
    expect(doc.check.results[1]!.detail).toMatch(/no-such-tool-here/);
    const md = runCli(['plan', runbook, '--check', '--format', 'markdown']);
    expect(md.code).toBe(1);
    expect(md.stdout).toMatch(/\*\*Preflight against the live system\*\* \(`plan --check`, run just now\):\n\n- ✅ bash installed[^\n]*\n- ❌ A tool that is missing — [^\n]*no-such-tool-here/);
  });
});

describe('plan --format json written one change at a time', () => {
  it('is the text of one JSON.stringify of the whole document, for a plan with and without hosts, secrets redacted', async () => {
    const { planJson } = await import('../../src/render/plan/plan-json.js');
    for (const file of [phase1, join(repoRoot, 'test', 'fixtures', 'fleet', 'web.yaml'), fixture('cyrillic.yaml')]) {
      const plan = await loadPlan(file, { env: { PATH: process.env.PATH, POSTGRES_PASSWORD: 'pw-secret-value' } });
      const redact = createRedactor(['pw-secret-value', ...plan.secretValues]);
      const text = planJson(plan, redact);
      expect(text, file).toBe(JSON.stringify(JSON.parse(text), null, 2) + '\n');
      expect((JSON.parse(text) as { changes: unknown[] }).changes).toHaveLength(plan.changes.length);
    }
  });
});
