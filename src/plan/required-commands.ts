import type { PlannedChange } from '../model/plan.js';
import type { ResolvedStep } from '../model/runbook.js';
import { stepType } from '../steps/registry.js';

/**
 * The implied first preflight check: every program the runbook's steps run (a cron step's
 * `crontab`, git for the checkpoint and git steps, docker for compose) is installed — so a
 * missing one stops the run before anything changes, not halfway through change 1.
 */
export function requiredCommandsCheck(preflight: ResolvedStep[], changes: PlannedChange[], hasCheckpoint: boolean): ResolvedStep | undefined {
  const users = new Map<string, Set<string>>();
  const need = (command: string, user: string) => users.set(command, (users.get(command) ?? new Set()).add(user));
  if (hasCheckpoint) need('git', 'checkpoint');
  const visit = (steps: ResolvedStep[] | null, user: string) => {
    for (const step of steps ?? []) for (const command of stepType(step.type)?.commands?.(step.params as never) ?? []) need(command, user);
  };
  visit(preflight, 'preflight');
  for (const c of changes) for (const steps of [c.apply, c.verify, c.rollback, c.rehearse]) visit(steps, c.change.id);
  if (users.size === 0) return undefined;
  const commands = [...users.keys()];
  const why = commands.map((command) => `${command} (${[...users.get(command)!].join(', ')})`).join(', ');
  return { type: 'which', params: commands, label: `Programs the steps need: ${why}` };
}
