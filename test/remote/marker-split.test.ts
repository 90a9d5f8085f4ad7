import { describe, expect, it } from 'vitest';
import { MarkerSplit } from '../../src/run/remote/marker-split.js';

const nonce = '00112233445566778899aabbccddeeff';

/** Feeds `bytes` cut at `cuts`; what was passed on, and the ends seen. */
function feed(split: MarkerSplit, bytes: Buffer, cuts: number[]): { data: Buffer; ends: number[] } {
  const parts: Buffer[] = [];
  const ends: number[] = [];
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    const s = split.push(bytes.subarray(from, to));
    parts.push(s.data);
    if (s.end) ends.push(s.end.code);
    from = to;
  }
  return { data: Buffer.concat(parts), ends };
}

describe('the end marker of a host shell request', () => {
  it('finds the stdout marker and its exit code wherever the chunks are cut, passing every byte before it', () => {
    const output = Buffer.from(`x\x1e\x1e${nonce.slice(0, 10)}y\n\x1e0011:0\n\x00\xff`, 'latin1');
    const bytes = Buffer.concat([output, Buffer.from(`\x1e${nonce}:255\n`, 'latin1')]);
    for (let a = 0; a <= bytes.length; a++) {
      for (let b = a; b <= bytes.length; b += 3) {
        const r = feed(MarkerSplit.forStdout(nonce), bytes, [a, b]);
        expect(r.ends).toEqual([255]);
        expect(r.data.equals(output)).toBe(true);
      }
    }
  });

  it('finds the stderr marker, and holds back only bytes that may begin it', () => {
    const split = MarkerSplit.forStderr(nonce);
    expect(split.push(Buffer.from('partial line')).data.toString()).toBe('partial line');
    expect(split.push(Buffer.from(`done\n\x1e${nonce.slice(0, 5)}`, 'latin1')).data.toString()).toBe('done\n');
    const end = split.push(Buffer.from(`${nonce.slice(5)}\n`, 'latin1'));
    expect([end.data.length, end.end]).toEqual([0, { code: 0 }]);
    // A record separator that turns out not to start the marker is passed on with what follows.
    const next = MarkerSplit.forStderr(nonce);
    expect(next.push(Buffer.from('a\x1e', 'latin1')).data.toString('latin1')).toBe('a');
    expect(next.push(Buffer.from('b', 'latin1')).data.toString('latin1')).toBe('\x1eb');
  });

  it('another nonce is output like any other bytes', () => {
    const fake = Buffer.from(`\x1e${'f'.repeat(32)}:0\n`, 'latin1');
    const r = feed(MarkerSplit.forStdout(nonce), Buffer.concat([fake, Buffer.from(`\x1e${nonce}:1\n`, 'latin1')]), [5]);
    expect([r.data.equals(fake), r.ends]).toEqual([true, [1]]);
  });
});
