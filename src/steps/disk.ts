import { formatBytes, parseSize } from '../model/units.js';
import type { StepType } from './contract.js';
import { StepFailedError } from './contract.js';

export interface DiskParams {
  path: string;
  minFree: number;
}

export const diskStep: StepType<DiskParams> = {
  type: 'disk',
  summary: 'Check free space on the filesystem holding a path.',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['path', 'minFree'],
    properties: {
      path: { type: 'string', minLength: 1, description: 'A path on the filesystem to check.' },
      minFree: { $ref: '#/$defs/size', description: 'Least free space required, e.g. 5GB.' },
    },
  },
  kind: 'check',
  normalize(raw) {
    const r = raw as { path: string; minFree: string };
    const minFree = parseSize(r.minFree);
    if (minFree === undefined) throw new Error(`minFree must be a size with a unit such as 512MB or 5GB — got ${JSON.stringify(r.minFree)}`);
    return { path: r.path, minFree };
  },
  describe(p) {
    return `≥ ${formatBytes(p.minFree)} free at ${p.path}`;
  },
  async run(p, ctx) {
    let free: number;
    try {
      free = await ctx.target.freeBytes(ctx.target.resolve(ctx.cwd, p.path));
    } catch (error) {
      if (error instanceof StepFailedError) throw error;
      throw new StepFailedError(`cannot check ${p.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    if (free < p.minFree) throw new StepFailedError(`only ${formatBytes(free)} free at ${p.path}, need ${formatBytes(p.minFree)}`);
    return { detail: `${formatBytes(free)} free` };
  },
};
