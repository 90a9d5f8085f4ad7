/** Durations and sizes as operators write them ("30s", "5GB"), normalised once by the loader. */

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
export const DURATION_PATTERN = '^(\\d+(\\.\\d+)?(ms|s|m|h|d))+$';
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "1m30s" → 90000. Returns undefined for anything else (the schema rejects it first). */
export function parseDuration(text: string): number | undefined {
  if (!new RegExp(DURATION_PATTERN).test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(DURATION_PART)) total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  return Math.round(total);
}

export const SIZE_PATTERN = '^\\d+(\\.\\d+)?\\s?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$';
const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

/** "5GB" → 5e9 bytes, "1GiB" → 2^30. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/.exec(text);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!]!);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return `${value >= 10 || i === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[i]}`;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** JSON Schema `$defs` every fragment may reference as `#/$defs/duration` and `#/$defs/size`. */
export const unitDefs = {
  duration: {
    type: 'string',
    pattern: DURATION_PATTERN,
    description: 'A duration with a unit: 500ms, 30s, 5m, 1h, 1m30s.',
  },
  /** A step's timeout: a duration, or `{{ var }}` holding one (filled and checked when the plan is resolved). */
  templatedDuration: {
    type: 'string',
    pattern: `${DURATION_PATTERN}|\\{\\{`,
    description: 'A duration with a unit (500ms, 30s, 5m, 1h), or a {{ var }} that holds one.',
  },
  size: {
    type: 'string',
    pattern: `${SIZE_PATTERN}|\\{\\{`,
    description: 'A size with a unit: 512MB, 5GB, 1GiB.',
  },
} as const;

/** Node's timers hold at most 2^31-1 ms (about 24.8 days); a longer one fires at once. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** Why a duration cannot be used as a timer, or undefined when it can. */
export function durationLimitProblem(ms: number): string | undefined {
  return ms > MAX_DURATION_MS ? "is longer than 24 days, the longest duration a timer can hold" : undefined;
}
