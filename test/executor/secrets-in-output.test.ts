import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { journalText, storedState } from '../support/state-backend.js';

function sandbox(secretName: string, changeYaml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-secrets-'));
  const runbook = join(dir, 'runbook.yaml');
  writeFileSync(runbook, `runbook: 1\nname: secrets\nsecrets: [${secretName}]\nchanges:\n${changeYaml}`);
  return { dir, runbook, journal: () => journalText(dir) };
}

/** Every string in the journal, and every string that decodes from base64, as text. */
function journalTexts(journal: string): string[] {
  const strings: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      strings.push(v);
      if (/^[A-Za-z0-9+/]{8,}={0,2}$/.test(v)) strings.push(Buffer.from(v, 'base64').toString('latin1'));
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  for (const line of journal.split('\n').filter(Boolean)) walk(JSON.parse(line));
  return strings;
}

describe('a secret split across two chunks of output', () => {
  const change = `  - id: print
    title: Print the token in two pieces
    risk: 0
    apply:
      - run: "printf 's3cr3t'; sleep 0.2; printf 'TOKEN\\\\n'"
    rollback: [ { run: "true" } ]
`;
  const env = { API_TOKEN: 's3cr3tTOKEN' };

  it('is masked whole in --verbose output', () => {
    const { runbook } = sandbox('API_TOKEN', change);
    const r = runCli(['apply', runbook, '--verbose'], { env });
    expect(r.code).toBe(0);
    const shown = r.stdout.split('\n').filter((l) => l.includes('│'));
    expect(shown).toEqual(['    │ ***']);
  });

  it('is masked whole in --json step.output events', () => {
    const { runbook } = sandbox('API_TOKEN', change);
    const r = runCli(['apply', runbook, '--json'], { env });
    expect(r.code).toBe(0);
    const chunks = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; chunk?: string })
      .filter((e) => e.type === 'step.output')
      .map((e) => e.chunk!);
    expect(chunks.join('')).toBe('***\n');
    for (const c of chunks) expect(c).not.toMatch(/s3cr3t|TOKEN/);
  });
});

describe('a secret with non-ASCII letters split in the middle of a character', () => {
  it('is masked whole in --json step.output events', () => {
    // "пароль!" in UTF-8, cut between the two bytes of its "а".
    const { runbook } = sandbox(
      'DB_PASS',
      `  - id: print
    title: Print the password in two pieces
    risk: 0
    apply:
      - run: "printf '\\\\xd0\\\\xbf\\\\xd0'; sleep 0.2; printf '\\\\xb0\\\\xd1\\\\x80\\\\xd0\\\\xbe\\\\xd0\\\\xbb\\\\xd1\\\\x8c!\\\\n'"
    rollback: [ { run: "true" } ]
`,
    );
    const r = runCli(['apply', runbook, '--json'], { env: { DB_PASS: 'пароль!' } });
    expect(r.code).toBe(0);
    const chunks = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; chunk?: string })
      .filter((e) => e.type === 'step.output')
      .map((e) => e.chunk!);
    expect(chunks.join('')).toBe('***\n');
  });
});

describe('a file holding a secret, snapshotted for rollback', () => {
  // Not valid UTF-8 (ff fe), so the snapshot cannot be stored as text.
  const before = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), Buffer.from('PASS=p@55word!\nURL=postgres://u:p%4055word!@db\nmode=old\n')]);
  const change = `  - id: conf
    title: Switch the mode
    risk: 0
    apply:
      - file: { path: app.conf, replace: { from: "mode=old", to: "mode=new" } }
`;

  it('keeps the secret out of the journal in every form (also base64-decoded), and rollback restores the exact bytes', () => {
    const { dir, runbook, journal } = sandbox('PASS', change);
    writeFileSync(join(dir, 'app.conf'), before);
    const env = { PASS: 'p@55word!' };
    expect(runCli(['apply', runbook], { env }).code).toBe(0);
    const texts = journalTexts(journal());
    const stored = storedState(dir);
    expect(texts.length).toBeGreaterThan(0);
    expect(stored).toContain('run.finished');
    for (const text of [...texts, stored]) {
      expect(text).not.toContain('p@55word!');
      expect(text).not.toContain('p%4055word!');
    }
    const r = runCli(['rollback', runbook], { env });
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'app.conf')).equals(before)).toBe(true);
  });

  it('refuses to restore with a secret rotated since the apply (exit 3, names it), and --force restores with the new value', () => {
    const { dir, runbook } = sandbox('PASS', change);
    const path = join(dir, 'app.conf');
    writeFileSync(path, before);
    expect(runCli(['apply', runbook], { env: { PASS: 'p@55word!' } }).code).toBe(0);
    const applied = readFileSync(path);

    const refused = runCli(['rollback', runbook], { env: { PASS: 'n3w@pa55' } });
    expect(refused.code).toBe(3);
    expect(refused.stdout).toMatch(/held the secret\(s\) PASS, whose value now is not the one it held/);
    expect(refused.stdout).toContain('runbook rollback --force');
    expect(readFileSync(path).equals(applied)).toBe(true);

    expect(runCli(['rollback', runbook, '--force'], { env: { PASS: 'n3w@pa55' } }).code).toBe(0);
    expect(readFileSync(path).toString('latin1')).toContain('PASS=n3w@pa55\nURL=postgres://u:n3w%40pa55@db\nmode=old\n');
  });

  it('without the secret in the environment, rollback says which secret it needs and changes nothing', () => {
    const { dir, runbook } = sandbox('PASS', change);
    const path = join(dir, 'app.conf');
    writeFileSync(path, before);
    expect(runCli(['apply', runbook], { env: { PASS: 'p@55word!' } }).code).toBe(0);
    const applied = readFileSync(path);
    const r = runCli(['rollback', runbook], { env: { PASS: '' } });
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/the secret\(s\) PASS are needed/);
    expect(readFileSync(path).equals(applied)).toBe(true);
  });
});
