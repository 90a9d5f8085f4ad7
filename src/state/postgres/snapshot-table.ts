import { isDigest } from '../../model/snapshot.js';
import { SnapshotUnavailableError, type SnapshotStore } from '../contract.js';
import { digestOf, pack, unpack } from '../snapshot-codec.js';
import type { PostgresStateDb, RunOwner } from './db.js';

/**
 * Snapshots in the state schema's `snapshots` table, per runbook and environment (whose lock
 * covers them): one committed INSERT before `put` resolves, so the event referencing the
 * snapshot is appended after it is on the server's disk.
 */
export class PostgresSnapshotStore implements SnapshotStore {
  constructor(
    private readonly db: PostgresStateDb,
    private readonly owner: RunOwner,
  ) {}

  get location(): string {
    return `table ${this.db.schema}.snapshots of ${this.db.location}`;
  }

  async put(bytes: Buffer): Promise<string> {
    const digest = digestOf(bytes);
    await this.db.query(
      'storing a snapshot',
      `INSERT INTO ${this.db.s}.snapshots (runbook, environment, digest, size, data) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (runbook, environment, digest) DO NOTHING`,
      [this.owner.runbook, this.owner.environment, digest, bytes.length, await pack(bytes)],
    );
    return digest;
  }

  async get(digest: string): Promise<Buffer> {
    if (!isDigest(digest)) throw new SnapshotUnavailableError(String(digest), 'missing', this.location, 'not a sha256 digest');
    const rows = await this.db.query<{ data: Buffer }>('reading a snapshot', `SELECT data FROM ${this.db.s}.snapshots WHERE runbook = $1 AND environment = $2 AND digest = $3`, [
      this.owner.runbook,
      this.owner.environment,
      digest,
    ]);
    if (!rows[0]) throw new SnapshotUnavailableError(digest, 'missing', this.location);
    return unpack(digest, rows[0].data, this.location);
  }

  async list(): Promise<string[]> {
    const rows = await this.db.query<{ digest: string }>('listing snapshots', `SELECT digest FROM ${this.db.s}.snapshots WHERE runbook = $1 AND environment = $2 ORDER BY digest`, [
      this.owner.runbook,
      this.owner.environment,
    ]);
    return rows.map((r) => r.digest);
  }

  async remove(digests: string[]): Promise<void> {
    if (digests.length === 0) return;
    await this.db.query('removing snapshots', `DELETE FROM ${this.db.s}.snapshots WHERE runbook = $1 AND environment = $2 AND digest = ANY($3::text[])`, [
      this.owner.runbook,
      this.owner.environment,
      digests,
    ]);
  }
}
