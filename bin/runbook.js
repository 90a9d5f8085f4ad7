#!/usr/bin/env node
'use strict';
// CommonJS (bin/package.json), like the bundle it starts: an ES module entry costs ~4 ms more.
//
// Runs dist/runbook.cjs, the whole CLI bundled by `npm run build` (scripts/bundle.mjs), with a
// V8 code cache the build made for it: `runbook plan` then starts without compiling what it
// runs. A cache older than the script, or made by another Node version (V8 says so), is not
// used; the script is then compiled as usual.
const { readFileSync, statSync } = require('node:fs');
const { createRequire, wrap } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

const file = join(__dirname, '..', 'dist', 'runbook.cjs');
// Two caches of the one script: what plan, validate and the other read-only commands run, and a
// bigger one that also holds what apply and rollback run (~2 ms more to load, ~5 ms less to run them).
const cacheFile = `${file}.${['apply', 'rollback'].includes(process.argv[2] ?? '') ? 'run' : 'plan'}.cache`;
// The build keeps the script ASCII-only (scripts/bundle.mjs checks it), so it is read as latin1: the same
// string as utf8 would give, ~2.5 ms sooner (no UTF-8 decoding of 1.2 MB).
const source = readFileSync(file, 'latin1');
let cachedData;
try {
  if (statSync(cacheFile).mtimeMs >= statSync(file).mtimeMs) cachedData = readFileSync(cacheFile);
} catch {
  // no cache: compile
}
const script = new Script(wrap(source), { filename: file, cachedData });
const module_ = { exports: {} };
script.runInThisContext()(module_.exports, createRequire(file), module_, file, dirname(file));
// Exit explicitly: a step the engine stopped waiting for (see step-runner) must not keep the
// process alive after the run is over and journaled. But only once stdout and stderr have
// handed every byte to the system: into a pipe (`| jq`) writes are asynchronous, and exiting
// at once cut what the reader had not taken yet (the first 64 KB arrived). A reader that
// left early (`| head`) is no error of ours, and must not stop an apply between two steps:
// what it was shown is lost, the run goes on to its end and its journal.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
module_.exports.main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  let open = 2;
  const flushed = () => --open === 0 && process.exit(code);
  process.stdout.write('', flushed);
  process.stderr.write('', flushed);
});
