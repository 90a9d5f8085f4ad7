import { isMap, isScalar, isSeq, type Node } from 'yaml';
import type { Diagnostic } from '../model/diagnostic.js';
import { GROUP_NAME_WORDS, HOST_NAME_WORDS, isGroupName, isHostName, LOCAL } from '../model/hosts.js';
import type { HostRef } from '../model/runbook.js';
import { hostGroups } from './hosts.js';
import { nodeOffset, posAt, readYaml } from './source.js';

export interface Inventory {
  /** Group → hosts, as `Runbook.hosts`; absent when the file has problems. */
  hosts?: Record<string, HostRef[]>;
  diagnostics: Diagnostic[];
  /** The file's text, for code frames. */
  text?: string;
}

const what = (node: unknown) => (isMap(node) ? 'a map' : isSeq(node) ? 'a list' : isScalar(node) ? (node.value === null ? 'nothing (null)' : `${JSON.stringify(node.value)}`) : 'something else');

/** Problems of one group's hosts: names that are not safe ssh destinations, a host twice, vars that are not a map. */
function groupProblems(group: string, node: Node | null | undefined, at: (n: unknown) => Diagnostic['pos']): Diagnostic[] {
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  const host = (key: unknown) => {
    const name = isScalar(key) ? key.value : undefined;
    if (typeof name !== 'string' || !isHostName(name)) {
      out.push({ code: 'inventory', message: `host ${JSON.stringify(isScalar(key) ? key.value : null)} in group ${group} must be ${HOST_NAME_WORDS}`, pos: at(key) });
      return;
    }
    if (seen.has(name)) out.push({ code: 'inventory', message: `host ${name} is listed twice in group ${group}`, pos: at(key) });
    seen.add(name);
  };
  if (isSeq(node)) for (const item of node.items) host(item);
  else if (isMap(node)) {
    for (const pair of node.items) {
      host(pair.key);
      const vars = pair.value as Node | null;
      if (vars !== null && !isMap(vars) && !(isScalar(vars) && vars.value === null)) out.push({ code: 'inventory', message: `the vars of host ${String(isScalar(pair.key) ? pair.key.value : '')} in group ${group} must be a map of names to values (or nothing), got ${what(vars)}`, pos: at(vars) });
    }
  } else out.push({ code: 'inventory', message: `group ${group} must be a list of hosts, or a map of hosts to their vars, got ${what(node)}`, pos: at(node) });
  return out;
}

/**
 * `--inventory FILE`: YAML whose top-level keys are groups, each a list of host names or a map of
 * host names to their vars (or null). It replaces the runbook's `hosts:`. Problems at FILE:line:col.
 */
export async function readInventory(file: string): Promise<Inventory> {
  const read = await readYaml(file, 'inventory');
  const src = read.source;
  if (!src) return { diagnostics: read.diagnostics, text: read.text };
  const diagnostics = [...read.diagnostics];
  const at = (node: unknown) => posAt(src, nodeOffset(node as Node | undefined) ?? 0);
  const root = src.doc.contents;
  if (!isMap(root)) {
    diagnostics.push({ code: 'inventory', message: `an inventory must be a map of group names to hosts, e.g. "web: [web-1, deploy@web-2]"; found ${root === null ? 'nothing' : what(root)}`, pos: at(root ?? undefined) });
    return { diagnostics, text: read.text };
  }
  for (const pair of root.items) {
    const group = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!isGroupName(group)) diagnostics.push({ code: 'inventory', message: `${JSON.stringify(group)} must be ${GROUP_NAME_WORDS}`, pos: at(pair.key) });
    else if (group === LOCAL) diagnostics.push({ code: 'inventory', message: `"${LOCAL}" cannot name a group: it is reserved for this machine (on: local)`, pos: at(pair.key) });
    else diagnostics.push(...groupProblems(group, pair.value as Node | null, at));
  }
  if (diagnostics.length > 0) return { diagnostics, text: read.text };
  return { hosts: hostGroups(src.data), diagnostics, text: read.text };
}
