/** Shared by the build-time precompiler and the runtime fallback, so both validate alike. */
export const ajvOptions = { allErrors: true, strict: false, allowUnionTypes: true, verbose: true } as const;
