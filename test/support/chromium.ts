import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Runs the real headless Chromium (Debian package `chromium`) on a local file, with a new empty
 * profile and everything that would reach the network off: `--dump-dom` (the page's DOM after
 * load) or `--screenshot`. Returns stdout; throws with Chromium's stderr when it fails.
 */
export function chromium(file: string, mode: { dumpDom: true } | { screenshot: string; size: [number, number] }): string {
  const profile = mkdtempSync(join(tmpdir(), 'runbook-chromium-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profile}`,
    ...('dumpDom' in mode ? ['--dump-dom'] : [`--screenshot=${mode.screenshot}`, `--window-size=${mode.size.join(',')}`, '--hide-scrollbars']),
    pathToFileURL(file).href,
  ];
  try {
    const r = spawnSync('chromium', args, { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`chromium exited ${r.status ?? r.signal}: ${r.stderr.slice(-2000)}`);
    return r.stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
