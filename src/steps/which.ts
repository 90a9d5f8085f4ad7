import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { StepType } from './contract.js';
import { StepFailedError } from './contract.js';

export type WhichParams = string[];

async function findOnPath(name: string, pathVar: string): Promise<string | undefined> {
  const dirs = name.includes('/') ? [''] : pathVar.split(delimiter).filter(Boolean);
  for (const dir of dirs) {
    const candidate = dir === '' ? name : join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export const whichStep: StepType<WhichParams> = {
  type: 'which',
  summary: 'Check that commands are installed (on PATH and executable).',
  schema: {
    description: 'A command name or a list of them.',
    oneOf: [{ type: 'string', minLength: 1 }, { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } }],
  },
  kind: 'check',
  normalize(raw) {
    return typeof raw === 'string' ? [raw] : (raw as string[]);
  },
  describe(p) {
    return `${p.join(', ')} installed`;
  },
  async run(p, ctx) {
    const found = await Promise.all(p.map((name) => findOnPath(name, ctx.env.PATH ?? '')));
    const missing = p.filter((_, i) => found[i] === undefined);
    if (missing.length > 0) throw new StepFailedError(`not found on PATH: ${missing.join(', ')}`);
    return { detail: found.join(', ') };
  },
};
