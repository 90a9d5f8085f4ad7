import { UsageError } from '../../model/diagnostic.js';
import type { JournalEvent } from '../../model/events.js';
import { compareRuns } from '../../model/run-id.js';
import { renderHtmlReport } from '../../render/html/report-html.js';
import { JournalCorruptError, RunNotFoundError } from '../../state/contract.js';
import { environmentOf, withStore } from '../kit/open-store.js';
import type { ReportOptions } from '../kit/options.js';
import { checkReportPath, writeReport } from '../kit/report-file.js';
import { reportError } from '../kit/report-error.js';

/**
 * `runbook report FILE [--run ID] --html OUT`: the run (default: the latest) as one
 * self-contained HTML page, from its journal. Exit 0, or 2 (no such run, no runs, bad path).
 */
export async function run(file: string | undefined, options: ReportOptions): Promise<number> {
  try {
    const out = checkReportPath(options.html, '--html');
    const environment = environmentOf(options);
    const { runId, events, torn, damaged } = await withStore(file!, options, async (store) => {
      const runs = (await store.listRuns()).sort(compareRuns);
      const runId = options.run ?? runs[runs.length - 1]?.runId;
      if (runId === undefined) throw new UsageError(`no runs of ${file} in environment ${environment} yet: nothing to report`);
      try {
        const read = await store.readRun(runId);
        return { runId, events: read.events as JournalEvent[], torn: read.torn, damaged: undefined };
      } catch (error) {
        if (error instanceof RunNotFoundError) throw new UsageError(`no run ${runId} of ${file} in environment ${environment}; runs: ${runs.map((r) => r.runId).join(', ') || 'none'}`);
        if (error instanceof JournalCorruptError) return { runId, events: error.readable, torn: false, damaged: error.message };
        throw error;
      }
    });
    await writeReport(out, renderHtmlReport({ events, environment, generatedAt: new Date().toISOString(), torn }));
    process.stdout.write(`report of run ${runId} written to ${options.html}\n`);
    if (damaged) process.stderr.write(`runbook: ${damaged}; the report shows the lines that could be read\n`);
    return 0;
  } catch (error) {
    return reportError(error, options.verbose);
  }
}
