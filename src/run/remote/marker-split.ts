/**
 * One stream (stdout or stderr) of a host shell session, cut at the end marker of each request
 * (shell-script.ts). Bytes that could be the start of a marker are held back until the next
 * chunk says whether they are; everything else is passed on as it arrives, so output streams live.
 */
import { MARK } from './shell-script.js';

export interface Split {
  /** The request's bytes in this chunk. */
  data: Buffer;
  /** Set once the marker (and, on stdout, its exit code line) has been read. */
  end?: { code: number };
}

const EMPTY = Buffer.alloc(0);

export class MarkerSplit {
  private held: Buffer = EMPTY;
  private readingCode = false;

  /** `withCode`: the marker is followed by the exit code and a newline (stdout); else by a newline. */
  constructor(
    private readonly marker: Buffer,
    private readonly withCode: boolean,
  ) {}

  static forStdout(nonce: string): MarkerSplit {
    return new MarkerSplit(Buffer.from(`\x1e${nonce}:`, 'latin1'), true);
  }

  static forStderr(nonce: string): MarkerSplit {
    return new MarkerSplit(Buffer.from(`\x1e${nonce}\n`, 'latin1'), false);
  }

  push(chunk: Buffer): Split {
    const buf = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = EMPTY;
    if (this.readingCode) {
      const eol = buf.indexOf(10);
      if (eol < 0) {
        this.held = buf;
        return { data: EMPTY };
      }
      this.readingCode = false;
      this.held = Buffer.from(buf.subarray(eol + 1));
      return { data: EMPTY, end: { code: Number(buf.subarray(0, eol).toString('latin1')) } };
    }
    const at = buf.indexOf(this.marker);
    if (at >= 0) {
      const data = buf.subarray(0, at);
      const rest = buf.subarray(at + this.marker.length);
      if (!this.withCode) {
        this.held = Buffer.from(rest);
        return { data, end: { code: 0 } };
      }
      this.readingCode = true;
      const code = this.push(rest).end;
      return code ? { data, end: code } : { data };
    }
    const keep = this.possibleStart(buf);
    this.held = Buffer.from(buf.subarray(keep));
    return { data: buf.subarray(0, keep) };
  }

  /** Where a suffix of `buf` that begins the marker starts (buf.length when none does). */
  private possibleStart(buf: Buffer): number {
    for (let i = Math.max(0, buf.length - this.marker.length + 1); i < buf.length; i++) {
      if (buf[i] !== MARK) continue;
      if (this.marker.subarray(0, buf.length - i).equals(buf.subarray(i))) return i;
    }
    return buf.length;
  }
}
