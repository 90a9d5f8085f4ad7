/** The engine's version (package.json's): `--version`, and what a saved plan records and apply compares. */
export const ENGINE_VERSION = '0.1.0';
