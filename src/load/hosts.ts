import { LOCAL } from '../model/hosts.js';
import type { Count, HostRef, Rollout } from '../model/runbook.js';
import { parseDuration } from '../model/units.js';

type Raw = Record<string, unknown>;

/** One group as written: a list of host names, or a map of host names to their vars (or null). */
function groupEntries(value: unknown): [string, Record<string, unknown>][] {
  if (Array.isArray(value)) return value.map((name) => [String(name), {}]);
  if (value !== null && typeof value === 'object') return Object.entries(value as Raw).map(([name, vars]) => [name, vars !== null && typeof vars === 'object' ? { ...(vars as Raw) } : {}]);
  return [];
}

/**
 * Groups as written (`hosts:` or an inventory, already checked) → group → hosts. A host listed in
 * several groups has one set of vars: those of each group it is in, merged in the order the groups
 * are written (a later group's value wins).
 */
export function hostGroups(groups: unknown): Record<string, HostRef[]> {
  if (groups === null || typeof groups !== 'object' || Array.isArray(groups)) return {};
  const entries = Object.entries(groups as Raw).map(([group, value]) => [group, groupEntries(value)] as const);
  const vars = new Map<string, Record<string, unknown>>();
  for (const [, hosts] of entries) for (const [name, own] of hosts) vars.set(name, { ...vars.get(name), ...own });
  return Object.fromEntries(entries.map(([group, hosts]) => [group, hosts.map(([name]) => ({ name, vars: vars.get(name)! }))]));
}

/** `on:` as written → group names; `['local']` when absent or `local`. */
export function targetGroups(on: unknown): string[] {
  if (typeof on === 'string') return [on];
  if (Array.isArray(on) && on.length > 0) return on.map(String);
  return [LOCAL];
}

/** Whether a change's `on:` (normalised) names host groups rather than this machine. */
export function runsOnHosts(on: string[]): boolean {
  return !(on.length === 1 && on[0] === LOCAL);
}

function countOf(value: unknown, fallback: number): Count {
  if (typeof value === 'number') return { count: value };
  if (typeof value === 'string' && value.endsWith('%')) return { percent: Number(value.slice(0, -1)) };
  return { count: fallback };
}

/** `rollout:` as written (already checked) → Rollout with defaults; undefined when absent. */
export function rolloutOf(raw: unknown): Rollout | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const r = raw as Raw;
  return {
    canary: countOf(r.canary, 1),
    batch: countOf(r.batch, 1),
    maxFailures: countOf(r.maxFailures, 0),
    pause: typeof r.pause === 'string' ? (parseDuration(r.pause) ?? 0) : 0,
  };
}
