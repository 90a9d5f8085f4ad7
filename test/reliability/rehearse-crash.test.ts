import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliAsync } from '../support/cli.js';
import { nameChange, rehearsalRunbook, SECRET } from '../executor/rehearse-fixture.js';

// The crash hook lives in the file journal (RUNBOOK_CRASH_AT): this sweep runs with the file state backend only.
describe('a rehearsal run killed at any instant', () => {
  it('kill -9 at every journal event of a rehearsal run, then runbook rollback: the file and the cron.d file are as before every time', async () => {
    const changes = `${nameChange('name=x')}  - id: nightly
    title: Nightly job
    risk: 0
    apply:
      - cron: { id: nightly, schedule: "0 3 * * *", command: "echo hi", file: cron.d-nightly }
`;
    const probe = rehearsalRunbook(changes);
    expect(probe.cli(['apply', probe.runbook, '--rehearse']).code).toBe(0);
    const events = probe.journal().split('\n').filter(Boolean).length;
    expect(events).toBeGreaterThan(40);
    for (let seq = 0; seq < events; seq++) {
      const s = rehearsalRunbook(changes);
      const before = s.bytes();
      const crashed = await runCliAsync(['apply', s.runbook, '--rehearse'], { cwd: s.dir, env: { TOKEN: SECRET, RUNBOOK_CRASH_AT: `after:${seq}` } });
      expect(crashed.code, `apply killed after event ${seq}`).toBeNull();
      const rb = await runCliAsync(['rollback', s.runbook, '--yes'], { cwd: s.dir, env: { TOKEN: SECRET } });
      expect(rb.code, `rollback after a kill after event ${seq}: ${rb.stdout}${rb.stderr}`).toBe(0);
      expect(s.bytes(), `app.conf after a kill after event ${seq}`).toBe(before);
      expect(existsSync(join(s.dir, 'cron.d-nightly')), `cron.d-nightly after a kill after event ${seq}`).toBe(false);
    }
  }, 600_000);
});
