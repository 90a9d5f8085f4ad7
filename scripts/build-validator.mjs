// Run by `npm run build` after tsc: writes schema/runbook.schema.json (committed; a test
// checks it is current) and a precompiled ajv validator, so start-up skips compile().
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { buildRunbookSchema } from '../dist/schema/runbook-schema.js';
import { ajvOptions, quickAjvOptions } from '../dist/schema/ajv-options.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const schema = buildRunbookSchema();
writeFileSync(join(root, 'schema', 'runbook.schema.json'), JSON.stringify(schema, null, 2) + '\n');

const generated = join(root, 'dist', 'generated');
const require = createRequire(import.meta.url);

/** The standalone code of a validator compiled with `options`, as plain ESM the bundler (scripts/bundle.mjs) can follow. */
function standaloneModule(options) {
  const ajv = new Ajv.default({ ...options, code: { source: true, esm: true } });
  const code = standaloneCode.default(ajv, ajv.compile(schema));
  // The standalone code require()s ajv's runtime helpers; static imports instead, by relative
  // path: the bundle then holds them, and plan resolves no file of ajv's at start-up (ajv
  // itself stays outside the bundle).
  const specifiers = [...new Set([...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]))];
  const local = (s) => relative(generated, require.resolve(s)).split(sep).join('/');
  const imports = specifiers.map((s, i) => `import runtime${i} from ${JSON.stringify(local(s))};\n`).join('');
  return imports + specifiers.reduce((text, s, i) => text.split(`require(${JSON.stringify(s)})`).join(`runtime${i}`), code);
}

mkdirSync(generated, { recursive: true });
// Every error, with the schema that raised it: what the loader's messages are made from.
writeFileSync(join(generated, 'validate-runbook.js'), standaloneModule(ajvOptions));
// Valid or not, stopping at the first error: ~10x faster on a large valid runbook.
writeFileSync(join(generated, 'check-runbook.js'), standaloneModule(quickAjvOptions));
