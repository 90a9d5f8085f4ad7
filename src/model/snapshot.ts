/**
 * A snapshot kept out of the journal: the bytes an inverse needs (a file's prior content, its
 * secret values already cut out) live in the state's owner-only snapshot store, compressed and
 * named by the sha256 of the bytes; the journal keeps this reference in their place. Journals
 * written before the store existed hold the bytes inline (`{ base64 }`); both are read.
 */
export interface SnapshotRef {
  /** `sha256:<hex>` of the bytes as stored (after secret values were cut out). */
  snapshot: string;
  /** Their length in bytes. */
  size: number;
  secretsAt?: [offset: number, name: string, form: string][];
  fingerprints?: Record<string, string>;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** `sha256:<hex>`, the only form a snapshot digest takes (it names a file in the file store). */
export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST.test(value);
}

export function isSnapshotRef(value: unknown): value is SnapshotRef {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && isDigest((value as { snapshot?: unknown }).snapshot);
}

/** Every snapshot digest referenced anywhere in a value (a run's inverses, an event), each once. */
export function snapshotDigests(value: unknown): string[] {
  const found = new Set<string>();
  const walk = (v: unknown): void => {
    if (isSnapshotRef(v)) found.add(v.snapshot);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(value);
  return [...found];
}
