import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stepTypes } from '../../src/steps/registry.js';

/** The layout of src/steps/ (DESIGN.md §3): one file per step type, helpers in steps/kit/. */
const stepsDir = join(import.meta.dirname, '..', '..', 'src', 'steps');
const NOT_A_STEP = ['contract.ts', 'registry.ts'];

const modulesIn = (dir: string) => readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.ts'));
const stepFiles = modulesIn(stepsDir).filter((e) => !NOT_A_STEP.includes(e.name)).map((e) => e.name);
const kitFiles = modulesIn(join(stepsDir, 'kit')).map((e) => e.name);

/** What a module exports that has the shape of a StepType: a `type` name, a schema, describe and run. */
async function stepTypesExportedBy(file: string): Promise<{ name: string; value: { type: string } }[]> {
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  return Object.entries(mod)
    .filter(([, v]) => {
      const s = v as Record<string, unknown> | null;
      return typeof s === 'object' && s !== null && typeof s.type === 'string' && typeof s.schema === 'object' && typeof s.describe === 'function' && typeof s.run === 'function';
    })
    .map(([name, value]) => ({ name, value: value as { type: string } }));
}

describe('src/steps/: one file per step type', () => {
  it.each(stepFiles)('%s exports exactly one step type, named after the file and registered', async (file) => {
    const exported = await stepTypesExportedBy(join(stepsDir, file));
    expect(exported.map((e) => e.name)).toHaveLength(1);
    expect(exported[0]!.value.type).toBe(basename(file, '.ts'));
    expect(stepTypes).toContain(exported[0]!.value);
  });

  it('registers no step type without its own file', () => {
    expect(stepTypes.map((t) => `${t.type}.ts`).sort()).toEqual([...stepFiles].sort());
  });

  it.each(kitFiles)('steps/kit/%s exports no step type', async (file) => {
    expect((await stepTypesExportedBy(join(stepsDir, 'kit', file))).map((e) => e.name)).toEqual([]);
  });
});
