import type { StepType } from './contract.js';
import { StepFailedError } from './contract.js';

export type WhichParams = string[];

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
    const found = await Promise.all(p.map((name) => ctx.target.findProgram(name, ctx.target.remote ? undefined : (ctx.env.PATH ?? ''))));
    const missing = p.filter((_, i) => found[i] === undefined);
    if (missing.length > 0) throw new StepFailedError(`not found on PATH: ${missing.join(', ')}`);
    return { detail: found.join(', ') };
  },
};
