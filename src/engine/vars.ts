import { isMap, isScalar } from 'yaml';
import { UsageError, type Diagnostic } from '../model/diagnostic.js';
import { posAt, readYaml } from './source.js';

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `--var key=value` → [key, value]; a malformed one is a usage error. */
export function parseVarFlag(flag: string): [string, string] {
  const eq = flag.indexOf('=');
  const key = eq > 0 ? flag.slice(0, eq) : '';
  if (!VAR_NAME.test(key)) throw new UsageError(`--var expects key=value with a name of letters, digits, _ or -; got ${JSON.stringify(flag)}`);
  return [key, flag.slice(eq + 1)];
}

/** Reads vars files (YAML maps) in order; later files override earlier ones. */
export async function readVarsFiles(files: string[], sources: Map<string, string>): Promise<{ vars: Record<string, unknown>; diagnostics: Diagnostic[] }> {
  const vars: Record<string, unknown> = {};
  const diagnostics: Diagnostic[] = [];
  for (const file of files) {
    const read = await readYaml(file, 'vars file');
    if (read.text !== undefined) sources.set(file, read.text);
    diagnostics.push(...read.diagnostics);
    if (!read.source) continue;
    const { doc } = read.source;
    if (doc.contents === null) continue;
    if (!isMap(doc.contents)) {
      diagnostics.push({ code: 'vars-file', message: 'a vars file must be a map of names to values', pos: posAt(read.source, doc.contents.range?.[0] ?? 0) });
      continue;
    }
    const values = read.source.data as Record<string, unknown>;
    for (const pair of doc.contents.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!VAR_NAME.test(key)) {
        diagnostics.push({ code: 'vars-file', message: `invalid variable name ${JSON.stringify(key)}`, pos: posAt(read.source, (pair.key as { range?: number[] })?.range?.[0] ?? 0) });
        continue;
      }
      vars[key] = values[key];
    }
  }
  return { vars, diagnostics };
}
