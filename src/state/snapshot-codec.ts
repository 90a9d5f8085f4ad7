import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { SnapshotUnavailableError } from './contract.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** `sha256:<hex>` of the bytes: the name a snapshot is stored under. */
export function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The bytes as stored: gzip. */
export function pack(bytes: Buffer): Promise<Buffer> {
  return gzipAsync(bytes);
}

/** Stored data back to the bytes, checked against the digest they are stored under. */
export async function unpack(digest: string, data: Buffer, location: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await gunzipAsync(data);
  } catch (error) {
    throw new SnapshotUnavailableError(digest, 'damaged', location, `it does not decompress: ${(error as Error).message}`);
  }
  if (digestOf(bytes) !== digest) throw new SnapshotUnavailableError(digest, 'damaged', location, 'its content does not match its digest');
  return bytes;
}
