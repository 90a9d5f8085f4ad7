// The floor under a Node engine's steps: N × `/bin/bash -o pipefail -c true` started one after
// another the way the engine starts a step (child_process.spawn, own process group, stdout and
// stderr piped and read, wait for 'close'), and nothing else. `node spawn-loop.cjs 200`.
'use strict';
const { spawn } = require('node:child_process');

const total = Number(process.argv[2] ?? 200);
let started = 0;
function next() {
  if (started++ === total) return;
  const child = spawn('/bin/bash', ['-o', 'pipefail', '-c', 'true'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', () => {});
  child.stderr.on('data', () => {});
  child.on('close', next);
}
next();
