import { chmod, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isDigest } from '../../model/snapshot.js';
import { fsyncDir } from '../../support/atomic-write.js';
import { SnapshotUnavailableError, type SnapshotStore } from '../contract.js';
import { digestOf, pack, unpack } from '../snapshot-codec.js';

const STORED = /^([0-9a-f]{64})\.gz$/;

/**
 * Snapshots as files of an owner-only directory of the state dir (`snapshots/`, mode 0700):
 * `<sha256 hex>.gz`, mode 0600, each written to a temp file, fsynced, renamed into place and
 * the directory fsynced before `put` resolves.
 */
export class FileSnapshotStore implements SnapshotStore {
  constructor(readonly location: string) {}

  private pathOf(digest: string): string {
    if (!isDigest(digest)) throw new SnapshotUnavailableError(String(digest), 'missing', this.location, 'not a sha256 digest');
    return join(this.location, `${digest.slice('sha256:'.length)}.gz`);
  }

  /** The directory, created owner-only (and made so if it was not), its creation made durable. */
  private async ensureDir(): Promise<void> {
    let created = false;
    try {
      await mkdir(this.location, { mode: 0o700 });
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (created || ((await stat(this.location)).mode & 0o777) !== 0o700) await chmod(this.location, 0o700);
    if (created) await fsyncDir(dirname(this.location));
  }

  async put(bytes: Buffer): Promise<string> {
    const digest = digestOf(bytes);
    const path = this.pathOf(digest);
    try {
      await this.get(digest);
      return digest; // stored already (and intact)
    } catch (error) {
      if (!(error instanceof SnapshotUnavailableError)) throw error;
    }
    await this.ensureDir();
    const temp = join(this.location, `.${digest.slice(7, 23)}.${process.pid}.tmp`);
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.chmod(0o600);
      await handle.writeFile(await pack(bytes));
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    await fsyncDir(this.location);
    return digest;
  }

  async get(digest: string): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await readFile(this.pathOf(digest));
    } catch (error) {
      if (error instanceof SnapshotUnavailableError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new SnapshotUnavailableError(digest, 'missing', this.location);
      throw new SnapshotUnavailableError(digest, 'damaged', this.location, (error as Error).message);
    }
    return unpack(digest, data, this.location);
  }

  async list(): Promise<string[]> {
    try {
      return (await readdir(this.location)).flatMap((name) => {
        const m = STORED.exec(name);
        return m ? [`sha256:${m[1]}`] : [];
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  async remove(digests: string[]): Promise<void> {
    if (digests.length === 0) return;
    for (const digest of digests) await rm(this.pathOf(digest), { force: true });
    await fsyncDir(this.location);
  }
}
