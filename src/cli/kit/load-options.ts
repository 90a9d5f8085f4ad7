import type { LoadPlanOptions } from '../../plan/load-plan.js';
import type { CommonOptions } from './options.js';
import { formatDiagnostic } from './report-error.js';

/** How every command loads its runbook: --var, --vars-file, the hosts (--inventory, --limit, --ssh-config), and warnings printed on stderr. */
export function loadOptions(options: CommonOptions): LoadPlanOptions {
  return {
    vars: options.var,
    varsFiles: options.varsFile,
    inventory: options.inventory,
    limit: options.limit,
    sshConfig: options.sshConfig,
    onWarning: (warning) => process.stderr.write(formatDiagnostic(warning, undefined)),
  };
}
