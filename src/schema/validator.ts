
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

/**
 * The runbook validator: the standalone one precompiled by `npm run build` when present
 * (fast start-up), otherwise compiled now (tests run from source).
 */
export async function runbookValidator(): Promise<Validate> {
  if (cached) return cached;
  try {
    // A literal path, so the build's bundler (scripts/bundle.mjs) includes the generated file.
    // @ts-expect-error -- written by `npm run build` into dist/generated; absent when running from source
    const mod = (await import('../generated/validate-runbook.js')) as { default: Validate };
    cached = mod.default;
  } catch {
    // Only when running from source (tests): the built CLI never loads the schema builder.
    const [{ default: Ajv }, { ajvOptions }, { buildRunbookSchema }] = await Promise.all([import('ajv'), import('./ajv-options.js'), import('./runbook-schema.js')]);
    const ajv = new Ajv.default(ajvOptions);
    cached = ajv.compile(buildRunbookSchema()) as Validate;
  }
  return cached;
}
