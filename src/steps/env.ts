import type { StepType } from './contract.js';
import { StepFailedError } from './contract.js';
import { parseDotenv } from './kit/dotenv.js';

export interface EnvParams {
  require: string[];
  file?: string;
}

export const envStep: StepType<EnvParams> = {
  type: 'env',
  summary: 'Check that required variables are set (non-empty): in the environment, or, with `file`, in that .env file only (what the app reads). Values are never shown.',
  schema: {
    description: 'A list of names, or a map with `require` and an optional `.env` `file`.',
    oneOf: [
      { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } },
      {
        type: 'object',
        additionalProperties: false,
        required: ['require'],
        properties: {
          require: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }, description: 'Variables that must be set and non-empty.' },
          file: { type: 'string', description: 'Check the variables in this .env file (the one the app reads) instead of the environment: a variable set only in the environment does not count.' },
        },
      },
    ],
  },
  kind: 'check',
  normalize(raw) {
    return Array.isArray(raw) ? { require: raw as string[] } : (raw as EnvParams);
  },
  describe(p) {
    return `${p.require.join(', ')} set${p.file ? ` in ${p.file}` : ''}`;
  },
  async run(p, ctx) {
    const seen = p.file === undefined ? await ctx.target.environment(p.require, ctx.env) : {};
    let source: (name: string) => string | undefined = (name) => seen[name];
    if (p.file !== undefined) {
      let bytes: Buffer | undefined;
      try {
        // A FIFO or device is refused unread: reading one would wait for a writer forever.
        bytes = await ctx.target.readFile(ctx.target.resolve(ctx.cwd, p.file));
      } catch (error) {
        if (error instanceof StepFailedError && ctx.target.remote) throw error;
        throw new StepFailedError(`cannot read ${p.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      if (bytes === undefined) throw new StepFailedError(`cannot read ${p.file}: ENOENT`);
      const text = bytes.toString('utf8');
      const vars = parseDotenv(text);
      source = (name) => vars.get(name);
    }
    const missing = p.require.filter((name) => (source(name) ?? '') === '');
    if (missing.length > 0) {
      throw new StepFailedError(`missing or empty: ${missing.join(', ')}${p.file ? ` (in ${p.file})` : ''}`);
    }
    return { detail: `${p.require.length} present` };
  },
};
