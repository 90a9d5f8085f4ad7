import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { buildRunbookSchema } from '../../src/schema/runbook-schema.js';
import { repoRoot, runCli } from '../support/cli.js';

const phase1 = join(repoRoot, 'runbooks', 'phase1.yaml');

describe('runbook plan runbooks/phase1.yaml', () => {
  it('shows the seed\'s total risk 3/40 = 7.5%', () => {
    const r = runCli(['plan', phase1]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('3/40 = 7.5%');
    expect(r.stdout).toMatch(/Policy: OK/);
    // The runbook's 11 checks and the checkpoint's own, each as apply runs it.
    expect(r.stdout).toMatch(/Preflight \(13 checks/);
    expect(r.stdout).toMatch(/• checkpoint commits no secret or large file \(.*\): untracked files that look like secrets/);
  });

  it('--format json has the four changes with risks 0, 2, 1, 0', () => {
    const r = runCli(['plan', phase1, '--format', 'json']);
    const doc = JSON.parse(r.stdout) as { formatVersion: number; changes: { id: string; risk: number }[]; risk: { sum: number; max: number; percent: number } };
    expect(doc.formatVersion).toBe(2);
    expect(doc.changes.map((c) => c.risk)).toEqual([0, 2, 1, 0]);
    expect(doc.changes.map((c) => c.id)).toEqual(['auto-backups', 'db-pool', 'env-validation', 'frontend-polling']);
    expect(doc.risk).toMatchObject({ sum: 3, max: 40, percent: 7.5 });
  });

  it('--format markdown renders the seed document\'s sections', () => {
    const md = runCli(['plan', phase1, '--format', 'markdown']).stdout;
    for (const heading of ['## Current state and preflight', '## Analysis of each change', '## Risk table', '## Checks', '## Apply plan', '## Problems and fixes', '## Expected results', '## Verdict']) {
      expect(md).toContain(heading);
    }
    expect(md).toMatch(/idleTimeoutMillis.*60000/);
    expect(md).toContain('**What can break:**');
  });

  it('keeps table columns aligned with Cyrillic and emoji titles', () => {
    const r = runCli(['plan', join(repoRoot, 'test', 'fixtures', 'plan', 'cyrillic.yaml')]);
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^[│┌├└]/.test(l));
    expect(rows.length).toBeGreaterThan(4);
    const widths = new Set(rows.map((l) => stringWidth(l)));
    expect(widths.size).toBe(1);
    expect(r.stdout).toContain('Автобэкапы');
  });

  it('the committed schema/runbook.schema.json is what the code generates', () => {
    const committed = JSON.parse(readFileSync(join(repoRoot, 'schema', 'runbook.schema.json'), 'utf8')) as unknown;
    expect(committed).toEqual(JSON.parse(JSON.stringify(buildRunbookSchema())));
    expect(JSON.parse(runCli(['schema']).stdout)).toEqual(committed);
  });

  it('validate accepts the phase1 runbook', () => {
    const r = runCli(['validate', phase1]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/valid \(4 changes/);
  });
});
