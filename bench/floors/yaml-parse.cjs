// The floor under a cold `plan`: Node starting, loading js-yaml (the fastest YAML parser the
// engine uses) and parsing the runbook, nothing else (no checks, no plan, no table).
// `node yaml-parse.cjs runbooks/phase1.yaml`.
'use strict';
const { readFileSync } = require('node:fs');
const { load } = require('js-yaml');

const data = load(readFileSync(process.argv[2], 'utf8'));
process.stdout.write(`${Object.keys(data).length} top-level keys\n`);
