export interface SchemaError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
  /** With ajv's `verbose`: the keyword's value and the schema object holding it. */
  schema?: unknown;
  parentSchema?: Record<string, unknown>;
}

export type Validate = ((data: unknown) => boolean) & { errors?: SchemaError[] | null };

let cached: Validate | undefined;
let cachedCheck: Validate | undefined;

/** ajv compiled now with `options`: only when running from source (tests); the built CLI never loads the schema builder. */
async function compiled(which: 'ajvOptions' | 'quickAjvOptions'): Promise<Validate> {
  const [{ default: Ajv }, options, { buildRunbookSchema }] = await Promise.all([import('ajv'), import('./ajv-options.js'), import('./runbook-schema.js')]);
  return new Ajv.default(options[which]).compile(buildRunbookSchema()) as Validate;
}

/** The validator `npm run build` precompiled (its module as `load` imports it), otherwise ajv compiled now with `which`. */
async function precompiledOr(load: () => Promise<unknown>, which: 'ajvOptions' | 'quickAjvOptions'): Promise<Validate> {
  try {
    return ((await load()) as { default: Validate }).default;
  } catch {
    return compiled(which);
  }
}

/**
 * The runbook validator, every error with the schema that raised it: the standalone one
 * precompiled by `npm run build` when present (fast start-up), otherwise compiled now.
 */
export async function runbookValidator(): Promise<Validate> {
  // Literal paths, so the build's bundler (scripts/bundle.mjs) includes the generated files.
  // @ts-expect-error -- written by `npm run build` into dist/generated; absent when running from source
  return (cached ??= await precompiledOr(() => import('../generated/validate-runbook.js'), 'ajvOptions'));
}

/**
 * Whether a runbook is valid, and nothing more: stops at the first error, ~10x faster than
 * `runbookValidator` on a large valid runbook, which is then called only for an invalid one.
 */
export async function runbookCheck(): Promise<Validate> {
  // @ts-expect-error -- written by `npm run build` into dist/generated; absent when running from source
  return (cachedCheck ??= await precompiledOr(() => import('../generated/check-runbook.js'), 'quickAjvOptions'));
}
