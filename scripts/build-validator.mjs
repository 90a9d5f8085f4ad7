// Run by `npm run build` after tsc: writes schema/runbook.schema.json (committed; a test
// checks it is current) and a precompiled ajv validator, so start-up skips compile().
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { buildRunbookSchema } from '../dist/schema/runbook-schema.js';
import { ajvOptions } from '../dist/schema/ajv-options.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const schema = buildRunbookSchema();
writeFileSync(join(root, 'schema', 'runbook.schema.json'), JSON.stringify(schema, null, 2) + '\n');

const ajv = new Ajv.default({ ...ajvOptions, code: { source: true, esm: true } });
const validate = ajv.compile(schema);
const code = standaloneCode.default(ajv, validate);
// The standalone code require()s ajv's runtime helpers; static imports instead, so the file
// is plain ESM that the bundler (scripts/bundle.mjs) can follow.
const specifiers = [...new Set([...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]))];
const imports = specifiers.map((s, i) => `import runtime${i} from ${JSON.stringify(s.endsWith('.js') ? s : `${s}.js`)};\n`).join('');
const body = specifiers.reduce((text, s, i) => text.split(`require(${JSON.stringify(s)})`).join(`runtime${i}`), code);
const out = join(root, 'dist', 'generated', 'validate-runbook.js');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, imports + body);
