import { isSnapshotRef, type SnapshotRef } from '../model/snapshot.js';
import type { ResolvedStep } from '../model/runbook.js';
import { SnapshotUnavailableError, type SnapshotStore } from '../state/contract.js';
import type { JournaledBytes } from '../steps/contract.js';

function isBytes(value: object): value is JournaledBytes {
  return typeof (value as { base64?: unknown }).base64 === 'string';
}

async function mapDeep(value: unknown, fn: (obj: object) => Promise<unknown> | undefined): Promise<unknown> {
  if (Array.isArray(value)) return Promise.all(value.map((v) => mapDeep(v, fn)));
  if (value === null || typeof value !== 'object') return value;
  const replaced = fn(value);
  if (replaced !== undefined) return replaced;
  const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await mapDeep(v, fn)] as const));
  return Object.fromEntries(entries);
}

/**
 * Inverse steps as journaled: every snapshot's bytes (`{ base64 }`, secret values already cut
 * out) moved into the owner-only store, durably, and referenced by digest. Called before the
 * event carrying the inverse is appended, so a crash never leaves a reference to nothing.
 */
export async function storeSnapshots(inverse: ResolvedStep[], store: SnapshotStore): Promise<ResolvedStep[]> {
  return (await mapDeep(inverse, (obj) => {
    if (!isBytes(obj)) return undefined;
    const { base64, rotated: _rotated, ...rest } = obj;
    const bytes = Buffer.from(base64, 'base64');
    return store.put(bytes).then((snapshot): SnapshotRef => ({ snapshot, size: bytes.length, ...rest }));
  })) as ResolvedStep[];
}

/** A snapshot an undo step needs cannot be read: which step, which file, which digest. */
export class SnapshotNotReadableError extends Error {
  constructor(
    readonly step: ResolvedStep,
    readonly problem: SnapshotUnavailableError,
  ) {
    const cause = problem;
    const path = (step.params as { path?: unknown } | null)?.path;
    const what = typeof path === 'string' ? path : step.label;
    super(
      `cannot restore ${what}: its pre-apply content, snapshot ${cause.digest}, is ${cause.problem === 'missing' ? 'missing from' : 'damaged in'} the snapshot store ${cause.location}${cause.detail ? ` (${cause.detail})` : ''}; nothing was written. Put the snapshot back (from a backup of the state) and run the rollback again, or restore ${what} by hand`,
    );
    this.name = 'SnapshotNotReadableError';
  }
}

/**
 * An undo step as it runs: every snapshot reference replaced by its bytes read back from the
 * store (inline `{ base64 }` of older journals is left as it is). Throws SnapshotNotReadableError.
 */
export async function readSnapshots(step: ResolvedStep, store: SnapshotStore | undefined): Promise<ResolvedStep> {
  try {
    return (await mapDeep(step, (obj) => {
      if (!isSnapshotRef(obj)) return undefined;
      const { snapshot, size: _size, ...rest } = obj;
      if (!store) throw new SnapshotUnavailableError(snapshot, 'missing', 'this state (it has no snapshot store)');
      return store.get(snapshot).then((bytes): JournaledBytes => ({ base64: bytes.toString('base64'), ...rest }));
    })) as ResolvedStep;
  } catch (error) {
    if (error instanceof SnapshotUnavailableError) throw new SnapshotNotReadableError(step, error);
    throw error;
  }
}
