/** Shared by the build-time precompiler and the runtime fallback, so both validate alike. */
export const ajvOptions = { allErrors: true, strict: false, allowUnionTypes: true, verbose: true } as const;

/** The same schema, for a yes or no only: stops at the first error (valid exactly when the full validator says so). */
export const quickAjvOptions = { allErrors: false, strict: false, allowUnionTypes: true } as const;
