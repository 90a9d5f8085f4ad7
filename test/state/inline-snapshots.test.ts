/**
 * Journals written before snapshots moved out of the journal hold a file's prior bytes inline
 * (`"bytes": { "base64": … }`). They must still roll back, from the file state and once
 * migrated into PostgreSQL.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, inject, it } from 'vitest';
import { fourChanges, type Sandbox } from '../executor/fixture.js';
import { runCli } from '../support/cli.js';

/** Rewrites the run's journal as the engine wrote it before the snapshot store, and removes the store. */
function toInlineJournal(sb: Sandbox): void {
  const store = join(sb.state, 'snapshots');
  const runs = join(sb.state, 'runs');
  for (const name of readdirSync(runs)) {
    const text = readFileSync(join(runs, name), 'utf8').replace(/\{"snapshot":"sha256:([0-9a-f]{64})","size":\d+/g, (_, hex: string) => `{"base64":"${gunzipSync(readFileSync(join(store, `${hex}.gz`))).toString('base64')}"`);
    writeFileSync(join(runs, name), text);
  }
  rmSync(store, { recursive: true });
}

describe('a journal with inline snapshots (written before the snapshot store)', () => {
  it('rolls back byte for byte from the file state', () => {
    const sb = fourChanges();
    writeFileSync(join(sb.dir, 'conf2.txt'), Buffer.from('setting2=old\r\nlatin1=\xe9\xff', 'latin1'));
    const before = sb.snapshot();
    const raw = readFileSync(join(sb.dir, 'conf2.txt'));
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
    toInlineJournal(sb);
    expect(sb.journal()).toContain('"base64"');
    expect(sb.journal()).not.toContain('"snapshot"');
    const rb = runCli(['rollback', sb.runbook]);
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    expect(sb.snapshot()).toEqual(before);
    expect(readFileSync(join(sb.dir, 'conf2.txt')).equals(raw)).toBe(true);
  });

  it('rolls back once migrated into PostgreSQL (state migrate copies the inline bytes as they are)', () => {
    const sb = fourChanges();
    const before = sb.snapshot();
    expect(runCli(['apply', sb.runbook]).code).toBe(0);
    toInlineJournal(sb);
    const state = `${inject('pg').url}?schema=inline_${Date.now()}`;
    const migrated = runCli(['state', 'migrate', '--from', sb.state, '--to', state]);
    expect(migrated.code, migrated.stdout + migrated.stderr).toBe(0);
    expect(migrated.stdout).not.toContain('snapshot(s) copied');
    const rb = runCli(['rollback', sb.runbook, '--state', state]);
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    expect(sb.snapshot()).toEqual(before);
  });
});
