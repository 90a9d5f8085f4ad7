#!/usr/bin/env node
import { main } from '../dist/cli/main.js';

// Exit explicitly: a step the engine stopped waiting for (see step-runner) must not keep the
// process alive after the run is over and journaled.
main(process.argv.slice(2)).then((code) => process.exit(code));
