import { Writable } from 'node:stream';

/** A terminal of a real size (`isTTY`, `columns`, `rows`) that keeps every write. */
export function fakeTerminal(columns: number, rows = 40): { stream: NodeJS.WriteStream; writes: string[] } {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(chunk.toString());
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY: true, columns, rows });
  return { stream, writes };
}
