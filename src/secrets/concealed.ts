import { isMap, isScalar, isSeq, type Document } from 'yaml';
import { eachNode } from '../load/yaml-structure.js';
import type { Concealed } from '../model/diagnostic.js';

/** The names listed under `secrets:`, read from the document even when it has other errors. */
export function secretNamesIn(doc: Document.Parsed | undefined): string[] {
  const contents = doc?.contents;
  if (!isMap(contents)) return [];
  const list = contents.items.find((p) => isScalar(p.key) && p.key.value === 'secrets')?.value as unknown;
  return isSeq(list) ? list.items.filter(isScalar).map((s) => String(s.value)) : [];
}

/** The same names, from a runbook's data: for data from the fast parse with no alias under `secrets:` (an alias there is no scalar to the document). */
export function secretNamesInData(data: unknown): string[] {
  const list = data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>).secrets : undefined;
  return Array.isArray(list) ? list.filter((s) => s === null || typeof s !== 'object').map(String) : [];
}

/** Records, for code frames, the source spans of the values of every key named in `secrets` anywhere in a file. */
export function concealKeys(concealed: Concealed, file: string, doc: Document.Parsed | undefined, names: string[]): void {
  if (!doc || names.length === 0) return;
  const spans = concealed.spans.get(file) ?? [];
  eachNode(doc.contents, {
    pair(pair) {
      if (!isScalar(pair.key) || !names.includes(String(pair.key.value))) return;
      const range = (pair.value as { range?: [number, number, number] } | null)?.range;
      if (range && range[1] > range[0]) spans.push([range[0], range[1]]);
    },
  });
  concealed.spans.set(file, spans);
}

/** Adds secret values (from --var, the environment, resolved vars) to hide wherever they appear. */
export function concealValues(concealed: Concealed, values: Iterable<unknown>): void {
  for (const value of values) if (typeof value === 'string' && value !== '' && !concealed.values.includes(value)) concealed.values.push(value);
}
