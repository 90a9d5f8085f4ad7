import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../src/secrets/redact.js';

function streamed(secrets: string[], chunks: string[]): string[] {
  const s = createRedactor(secrets).stream();
  return [...chunks.map((c) => s.push(c)), s.end()];
}

describe('redacting output that arrives in chunks', () => {
  it('masks a secret split over three chunks, and shows nothing of it before it is whole', () => {
    const out = streamed(['s3cr3tTOKEN'], ['log: s3c', 'r3tTO', 'KEN done\n']);
    expect(out.join('')).toBe('log: *** done\n');
    expect(out[0]).toBe('log: ');
    expect(out[1]).toBe('');
  });

  it('lets text that only looks like the start of a secret through at the end', () => {
    expect(streamed(['s3cr3tTOKEN'], ['almost s3cr3t']).join('')).toBe('almost s3cr3t');
  });

  it('masks the shell-quoted and URL-encoded forms across chunks too', () => {
    expect(streamed(['p@ss w0rd'], ['url=http://h/?p=p%40ss%2', '0w0rd x\n']).join('')).toBe('url=http://h/?p=*** x\n');
  });

  it('masks a URL password split across chunks', () => {
    expect(streamed([], ['connecting to postgres://app:hun', 'ter2@db:5432/app\n']).join('')).toBe('connecting to postgres://app:***@db:5432/app\n');
    expect(streamed([], ['connecting to postgres:', '//app:hunter2@db\n']).join('')).toBe('connecting to postgres://app:***@db\n');
    expect(streamed([], ['GET http://h/x?user=a&pass', 'word=hunter2 200\n']).join('')).toBe('GET http://h/x?user=a&password=*** 200\n');
  });

  it('shows plain words at once: only a word that may become a URL or a query string waits for its end', () => {
    expect(streamed([], ['progress 50% ', 'done\n'])).toEqual(['progress 50% ', 'done\n', '']);
    expect(streamed([], ['key=value', ' next\n'])[0]).toBe('key=value');
  });

  it('for any chunking, shows the same text as redacting the whole output at once, and never a secret', () => {
    const secrets = ['s3cr3tTOKEN', 'hunter2'];
    const piece = fc.constantFrom('s3cr3t', 'TOKEN', 's3cr3tTOKEN', 'hun', 'ter2', 'hunter2', ' ', '\n', 'a', 'x=', 'postgres://u:', '@db', 's', 'T', 'http://h/?password=', '&', 'pw:');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 8 }), (pieces, cuts) => {
        const whole = pieces.join('');
        const points = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...points].map((p, i, all) => whole.slice(p, all[i + 1] ?? whole.length));
        const out = streamed(secrets, chunks).join('');
        expect(out).toBe(createRedactor(secrets)(whole));
        for (const s of secrets) expect(out).not.toContain(s);
      }),
      { numRuns: 2000 },
    );
  });
});
