import { UsageError } from '../model/diagnostic.js';
import type { Fleet } from '../model/plan.js';
import type { Count, HostRef, Rollout } from '../model/runbook.js';

/** Without `rollout:`: one canary host, then one host at a time, no failure tolerated, no pause (the conservative choice). */
export const DEFAULT_ROLLOUT: Rollout = { canary: { count: 1 }, batch: { count: 1 }, maxFailures: { count: 0 }, pause: 0 };

/** Every host of the groups, each once, in order of first appearance. */
export function hostsOf(groups: Record<string, HostRef[]>, names: string[]): HostRef[] {
  const seen = new Map<string, HostRef>();
  for (const group of names) for (const host of groups[group] ?? []) if (!seen.has(host.name)) seen.set(host.name, host);
  return [...seen.values()];
}

/** A `--limit` glob (`*` matches anything) as a regular expression over a whole name. */
export function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/**
 * `--limit PATTERN`: the names of the hosts it keeps. Comma-separated host names, group names or
 * globs with `*` (over host and group names; `web-2` also matches `deploy@web-2`); `!x` excludes.
 * With only exclusions, every host but those. A pattern that matches nothing is a usage error
 * naming the known hosts and groups. Undefined when there is no limit.
 */
export function limitHosts(groups: Record<string, HostRef[]>, limit: string | undefined): Set<string> | undefined {
  if (limit === undefined) return undefined;
  const all = hostsOf(groups, Object.keys(groups)).map((h) => h.name);
  const patterns = limit
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (patterns.length === 0) throw new UsageError(`--limit ${JSON.stringify(limit)}: expected host names, group names or globs, comma-separated (e.g. web,!web-3)`);
  const matches = (pattern: string): string[] => {
    const re = glob(pattern);
    const byHost = all.filter((name) => re.test(name) || (!pattern.includes('@') && name.includes('@') && re.test(name.slice(name.indexOf('@') + 1))));
    const byGroup = Object.keys(groups)
      .filter((g) => re.test(g))
      .flatMap((g) => groups[g]!.map((h) => h.name));
    return [...new Set([...byHost, ...byGroup])];
  };
  const include = new Set<string>();
  const exclude = new Set<string>();
  let positive = false;
  for (const p of patterns) {
    const negated = p.startsWith('!');
    const pattern = negated ? p.slice(1).trim() : p;
    const found = matches(pattern);
    if (found.length === 0) {
      const known = all.length ? `hosts: ${all.join(', ')}; groups: ${Object.keys(groups).join(', ')}` : 'the runbook has no hosts';
      throw new UsageError(`--limit: "${pattern}" matches no host or group; ${known}`);
    }
    if (negated) for (const h of found) exclude.add(h);
    else {
      positive = true;
      for (const h of found) include.add(h);
    }
  }
  return new Set((positive ? [...include] : all).filter((h) => !exclude.has(h)));
}

/** A rollout figure for `n` hosts: percentages round up (canary, batch) or down (maxFailures). */
function countFor(c: Count, n: number, round: 'up' | 'down'): number {
  if ('count' in c) return c.count;
  const exact = (c.percent * n) / 100;
  // The product of a decimal percentage can land a hair off a whole number (0.1 * 30).
  return round === 'up' ? Math.ceil(exact - 1e-9) : Math.floor(exact + 1e-9);
}

/** Whether fleetOf cuts a canary batch (the first one) for this rollout. */
export function hasCanary(rollout: Rollout = DEFAULT_ROLLOUT): boolean {
  return 'count' in rollout.canary ? rollout.canary.count > 0 : rollout.canary.percent > 0;
}

/** The rollout over `hosts`: the canary batch first (when canary > 0), then chunks of `batch`. */
export function fleetOf(hosts: HostRef[], rollout: Rollout = DEFAULT_ROLLOUT, sshConfig?: string): Fleet {
  const names = hosts.map((h) => h.name);
  const n = names.length;
  const canary = Math.min(n, countFor(rollout.canary, n, 'up'));
  const batch = Math.max(1, countFor(rollout.batch, n, 'up'));
  const batches = canary > 0 ? [names.slice(0, canary)] : [];
  for (let i = canary; i < n; i += batch) batches.push(names.slice(i, i + batch));
  return {
    hosts,
    batches,
    maxFailures: countFor(rollout.maxFailures, n, 'down'),
    pause: rollout.pause,
    ...(sshConfig !== undefined ? { sshConfig } : {}),
  };
}
