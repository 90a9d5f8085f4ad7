import { describe, expect, it } from 'vitest';
import { runProcess } from '../../src/steps/kit/process.js';

describe('runProcess', () => {
  it('tells onSpawn the pid of the process it started, for the journal', async () => {
    const pids: number[] = [];
    const r = await runProcess({ command: 'echo $$', cwd: '/', env: process.env, signal: new AbortController().signal, capture: true, onSpawn: (pid) => pids.push(pid) });
    expect(pids).toEqual([Number(r.stdout.trim())]);
  });
});
