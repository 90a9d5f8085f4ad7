// Run by `npm run build` after tsc and build-validator: bundles the CLI (dist/cli/main.js and
// everything it imports, the precompiled validator included) into one CommonJS script,
// dist/runbook.cjs, then trains two V8 code caches for it: `plan` of a runbook using every step
// type (dist/runbook.cjs.plan.cache), then also an apply that rolls back and a rollback
// (dist/runbook.cjs.run.cache). bin/runbook.js loads the script with the one its command needs:
// start-up then skips resolving ~200 module files and compiling the code the command runs.
// Why CommonJS: Node 20 can hand a code cache only to a vm.Script, and a vm.Script cannot
// import() without an experimental flag; so the bundle must hold no import() at all.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist', 'runbook.cjs');
// Two caches (bin/runbook.js picks one by command): what plan runs, and what apply and rollback run too.
const planCache = `${outfile}.plan.cache`;
const runCache = `${outfile}.run.cache`;

// A cache is only ever valid for the exact script it was made from (V8 checks little more
// than the script's length): the old one goes before a new script is written.
for (const cache of [planCache, runCache, `${outfile}.cache`]) rmSync(cache, { force: true });
const result = await build({
  entryPoints: [join(root, 'dist', 'cli', 'main.js')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // What only apply, rollback or a fallback loads stays in node_modules, required when first
  // used (ES-module-only execa and listr2 too: Node >= 20.19 requires them): plan then reads
  // and deserializes half as much. pg-native is pg's optional binding, never installed.
  external: ['pg', 'pg-native', 'execa', 'listr2', 'cron-parser', 'ajv'],
  // import() becomes require(): a vm.Script has no import() without an experimental flag.
  supported: { 'dynamic-import': false },
  // No comments: a non-ASCII one makes the whole script a two-byte string, ~5 ms more to
  // read. Names are kept, so stack traces stay readable. (The bundled packages are still
  // dependencies, installed with their licences.)
  minifyWhitespace: true,
  legalComments: 'none',
  logLevel: 'silent',
});
const problems = [...result.errors, ...result.warnings].map((m) => `${m.location ? `${m.location.file}:${m.location.line}: ` : ''}${m.text}`);
// An import() left in the bundle would fail at run time inside the vm.Script.
const text = readFileSync(outfile, 'utf8');
for (const m of text.matchAll(/\bimport\(/g)) problems.push(`dist/runbook.cjs:${text.slice(0, m.index).split('\n').length}: import() is left in the bundle`);
// bin/runbook.js reads the script as latin1 (faster than utf8): that is the same text only while it is all ASCII.
const nonAscii = /[\u0080-\uffff]/.exec(text);
if (nonAscii) problems.push(`dist/runbook.cjs:${text.slice(0, nonAscii.index).split('\n').length}: a non-ASCII character (bin/runbook.js reads the script as latin1)`);
if (problems.length > 0) {
  rmSync(outfile, { force: true });
  process.stderr.write(`bundle: ${problems.length} problem(s):\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.exit(1);
}

// The cache records the functions that ran: train it on a plan touching every step type.
const work = mkdtempSync(join(tmpdir(), 'runbook-code-cache-'));
const training = join(work, 'training.yaml');
writeFileSync(
  training,
  `runbook: 1
name: code-cache-training
title: Every step type, for the code cache
vars: { dir: "${work}", url: "http://127.0.0.1:9", db: "postgres://u@127.0.0.1:5432/db", n: 3 }
secrets: [db, TOKEN]
policy: { maxRisk: 5, confirmFrom: 3, onFailure: rollback-all }
checkpoint: { git: { dir: "{{ dir }}", message: "checkpoint: before {{ name }}" } }
preflight:
  - { name: Disk, disk: { path: "{{ dir }}", minFree: 1GB } }
  - { name: Env, env: { require: [HOME] } }
  - which: [bash]
  - postgres: { url: "{{ db }}", ready: true }
changes:
  - id: files
    title: Files and cron
    risk: 1
    impact: none
    rollbackTime: 1m
    does: [Writes a file]
    breaks: [{ what: nothing, probability: "<5%", fix: roll back }]
    apply:
      - file: { path: "{{ dir }}/a.txt", content: "n={{ n }}" }
      - file: { path: "{{ dir }}/a.txt", replace: { from: "n=3", to: "n=4" } }
      - cron: { id: training, schedule: "0 3 * * *", command: "echo {{ n }}" }
    verify:
      - run: "grep -q n=4 {{ dir }}/a.txt"
        retries: 2
        interval: 10ms
  - id: services
    title: Services
    risk: 3
    apply:
      - run: "echo {{ url }}"
        timeout: 5s
      - compose: { action: restart, services: [api], dir: "{{ dir }}" }
      - postgres: { url: "{{ db }}", exec: "select 1" }
      - wait: 10ms
    verify:
      # Block scalars, single quotes, anchors and aliases, as real runbooks have them.
      - &health
        http: { url: "{{ url }}/health", contains: 'ok' }
      - postgres: { url: "{{ db }}", query: "select $1::int", params: [1], expect: 1 }
    rollback:
      - run: |
          true
          echo "{{ n }}" > /dev/null
      - *health
`,
);
// An apply that succeeds, then one whose verify fails and rolls back: the code cache then holds
// what every apply runs (load, lock, journal, steps, rollback), not only what plan does.
const applyTraining = join(work, 'apply-training.yaml');
writeFileSync(
  applyTraining,
  `runbook: 1
name: code-cache-apply-training
policy: { maxRisk: 10, confirmFrom: 11 }
changes:
  - id: write
    title: Write a file
    risk: 1
    apply:
      - run: "true"
      - file: { path: "${work}/b.txt", content: "b" }
    verify:
      - run: "test -f ${work}/b.txt"
    rollback:
      - run: "rm -f ${work}/b.txt"
  - id: fails
    title: Fails its verify
    risk: 1
    apply:
      - file: { path: "${work}/c.txt", content: "c" }
    verify:
      - run: "false"
    rollback:
      - undo: apply
`,
);
// One process runs the training commands, loading the script as bin/runbook.js does, and writes
// each cache after its commands: V8 puts in it every function compiled so far.
const trainer = `
const { readFileSync, writeFileSync } = require('node:fs');
const { createRequire, wrap } = require('node:module');
const { dirname } = require('node:path');
const { Script } = require('node:vm');
const [file, stages] = process.argv.slice(1);
const script = new Script(wrap(readFileSync(file, 'latin1')), { filename: file });
const module_ = { exports: {} };
script.runInThisContext()(module_.exports, createRequire(file), module_, file, dirname(file));
(async () => {
  const codes = [];
  for (const { commands, cache } of JSON.parse(stages)) {
    for (const argv of commands) codes.push(await module_.exports.main(argv));
    writeFileSync(cache, script.createCachedData());
  }
  process.stderr.write('exit codes: ' + codes.join(' ') + '\\n');
  process.exit(0);
})();
`;
const state = ['--state-dir', join(work, 'state')];
const stages = [
  // The plan cache holds the table plan only: each function more is more to load at every start.
  { cache: planCache, commands: [['plan', training]] },
  { cache: runCache, commands: [['plan', training, '--format', 'markdown'], ['plan', training, '--format', 'json'], ['apply', applyTraining, '--yes', ...state], ['rollback', applyTraining, '--yes', ...state]] },
];
const r = spawnSync(process.execPath, ['-e', trainer, outfile, JSON.stringify(stages)], { encoding: 'utf8', cwd: work });
// The exit codes of the training commands: plan 0 (2: the training runbook fell behind the format,
// and the cache is then poorer, the CLI fine), the failing apply 1 (rolled back), the rollback 0.
const codes = /exit codes: ([\d ]+)/.exec(r.stderr)?.[1]?.trim();
if (r.status !== 0 || codes === undefined) {
  process.stderr.write(`bundle: the bundled CLI failed its code-cache training (exit ${r.status}):\n${r.stdout}${r.stderr}\n`);
  process.exit(1);
}
if (codes !== '0 0 0 1 0') process.stderr.write(`bundle: warning: the code-cache training did not run as expected (exit codes ${codes}, expected 0 0 0 1 0); update it in scripts/bundle.mjs:\n${r.stdout.slice(-2000)}${r.stderr}\n`);
rmSync(work, { recursive: true, force: true });
const kb = (file) => `${(statSync(file).size / 1024).toFixed(0)} KB`;
process.stdout.write(`bundle: dist/runbook.cjs ${kb(outfile)}, code caches: plan ${kb(planCache)}, apply and rollback ${kb(runCache)}\n`);
