import type { Diagnostic } from '../model/diagnostic.js';
import { LOCAL } from '../model/hosts.js';
import { runsOnHosts, targetGroups } from './hosts.js';
import { suggest } from './schema-messages.js';
import { nodeAt, nodeOffset, posAt, type YamlSource } from './source.js';

type Raw = Record<string, unknown>;

export interface FleetRuleOptions {
  /** The groups `on:` may name: the inventory's when --inventory is given, else the runbook's `hosts:`; undefined: not checked. */
  groups: string[] | undefined;
  /** Where those groups come from, for messages (`hosts:` or `inventory FILE`). */
  groupsFrom: string;
}

function knownGroups(groups: string[], from: string): string {
  const names = groups.filter((g) => g !== LOCAL);
  if (names.length) return `the groups in ${from} are: ${names.join(', ')}`;
  return from === 'hosts:' ? 'no host groups are defined: name them under hosts:, or give --inventory FILE' : `${from} defines no groups`;
}

/**
 * Rules of the hosts part of a runbook the schema cannot say: `local` is not a group name; `on:`
 * names known groups, or `local` alone; the variable name `host` is taken by the target host in a
 * runbook with changes on hosts. Positions in the runbook.
 */
export function fleetDiagnostics(src: YamlSource, data: Raw, options: FleetRuleOptions): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const at = (path: (string | number)[], key = false) => {
    const { node, pair } = nodeAt(src.doc, path);
    return posAt(src, (key ? nodeOffset(pair) : nodeOffset(node)) ?? 0);
  };
  const hosts = data.hosts;
  if (hosts !== null && typeof hosts === 'object' && !Array.isArray(hosts) && Object.hasOwn(hosts, LOCAL)) {
    diagnostics.push({ code: 'reserved-group', message: `"${LOCAL}" cannot name a group in hosts: it is reserved for this machine (on: local)`, pos: at(['hosts', LOCAL], true) });
  }
  const changes = Array.isArray(data.changes) ? (data.changes as unknown[]) : [];
  const known = options.groups === undefined ? undefined : new Set(options.groups);
  let remote = false;
  changes.forEach((c, i) => {
    if (c === null || typeof c !== 'object' || (c as Raw).on === undefined) return;
    const on = (c as Raw).on;
    if (typeof on !== 'string' && !(Array.isArray(on) && on.every((g) => typeof g === 'string'))) return;
    const groups = targetGroups(on);
    const path = (k: number) => (Array.isArray(on) ? ['changes', i, 'on', k] : ['changes', i, 'on']);
    const id = String((c as Raw).id);
    if (groups.includes(LOCAL) && groups.length > 1) {
      diagnostics.push({ code: 'on-local', message: `change "${id}": on: lists "${LOCAL}" with host groups; a change runs either on this machine (on: local) or on hosts (on: [group, …]) — make two changes`, pos: at(path(groups.indexOf(LOCAL))) });
      return;
    }
    if (!runsOnHosts(groups)) return;
    remote = true;
    // The run's checkpoint (checkpoint.git) is a commit on this machine: on a host it names nothing there.
    for (const list of ['apply', 'verify', 'rollback'] as const) {
      const steps = (c as Raw)[list];
      if (!Array.isArray(steps)) continue;
      steps.forEach((step, j) => {
        const git = step !== null && typeof step === 'object' ? (step as Raw).git : undefined;
        if (git === null || typeof git !== 'object' || (git as Raw).reset !== 'checkpoint') return;
        diagnostics.push({
          code: 'host-reset-checkpoint',
          message: `change "${id}" runs on hosts, but "reset: checkpoint" names the run's checkpoint, which checkpoint.git takes on this machine: on a host, take one with a git step (checkpoint: MESSAGE) in the change, which its automatic rollback (no rollback list, or undo: apply) takes back, or reset to a commit`,
          pos: at(['changes', i, list, j, 'git', 'reset']),
        });
      });
    }
    groups.forEach((group, k) => {
      if (known && !known.has(group)) diagnostics.push({ code: 'unknown-group', message: `change "${id}" runs on unknown host group "${group}"${suggest(group, options.groups!.filter((g) => g !== LOCAL))}; ${knownGroups(options.groups!, options.groupsFrom)}`, pos: at(path(k)) });
    });
  });
  const vars = data.vars;
  if (remote && vars !== null && typeof vars === 'object' && Object.hasOwn(vars, 'host')) {
    diagnostics.push({ code: 'reserved-var', message: 'the variable name "host" is reserved in a runbook with changes on hosts: {{ host.name }} and {{ host.vars.X }} name the target host there; rename the variable', pos: at(['vars', 'host'], true) });
  }
  return diagnostics;
}
