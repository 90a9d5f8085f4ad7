/** Runbooks and scripts generated for the benchmarks (written to a temp dir per run). */

export function stepsRunbook(steps: number): string {
  const lines = [
    'runbook: 1',
    'name: bench-steps',
    'title: Benchmark — many steps',
    'policy: { maxRisk: 10, confirmFrom: 11 }',
    'changes:',
    '  - id: many-steps',
    '    title: Many true steps',
    '    risk: 0',
    '    apply:',
  ];
  for (let i = 0; i < steps; i++) lines.push(`      - run: "true"`);
  lines.push('    rollback:', '      - run: "true"');
  return lines.join('\n') + '\n';
}

/** `changes` changes of `applySteps` apply steps and one verify step each. */
export function changesRunbook(changes: number, applySteps = 3): string {
  const lines = ['runbook: 1', 'name: bench-changes', 'title: Benchmark — many changes', 'policy: { maxRisk: 10, confirmFrom: 11 }', 'changes:'];
  for (let c = 1; c <= changes; c++) {
    lines.push(`  - id: change-${c}`, `    title: Change number ${c}`, `    risk: ${c % 3}`, '    impact: none', '    rollbackTime: 1m', '    apply:');
    for (let s = 0; s < applySteps; s++) lines.push(`      - run: "true"`);
    lines.push('    verify:', `      - run: "true"`, '    rollback:', `      - run: "true"`);
  }
  return lines.join('\n') + '\n';
}

/** A runbook whose change 1 verify fails at once: measures failure → rollback latency. */
export function failingRunbook(): string {
  return [
    'runbook: 1',
    'name: bench-failure',
    'title: Benchmark — failure latency',
    'policy: { maxRisk: 10, confirmFrom: 11 }',
    'changes:',
    '  - id: fails',
    '    title: Fails verification',
    '    risk: 0',
    '    apply:',
    '      - run: "true"',
    '    verify:',
    '      - run: "false"',
    '    rollback:',
    '      - run: "true"',
    '',
  ].join('\n');
}

export function bashScript(commands: number): string {
  const lines = ['#!/bin/bash', 'set -e'];
  for (let i = 0; i < commands; i++) lines.push(`/bin/bash -c true`);
  return lines.join('\n') + '\n';
}

export function ansiblePlaybook(tasks: number): string {
  const lines = ['- hosts: localhost', '  connection: local', '  gather_facts: false', '  tasks:'];
  for (let i = 1; i <= tasks; i++) lines.push(`    - name: task ${i}`, '      ansible.builtin.command: "true"');
  return lines.join('\n') + '\n';
}

/** One change of `steps` `run: "true"` steps on every host of `hosts` (one group), rolled out as given. */
export function fleetRunbook(hosts: string[], steps: number, rollout: { canary: number; batch: number }): string {
  const lines = [
    'runbook: 1',
    'name: bench-fleet',
    'title: Benchmark — steps on hosts',
    'policy: { maxRisk: 10, confirmFrom: 11 }',
    'hosts:',
    `  fleet: [${hosts.join(', ')}]`,
    `rollout: { canary: ${rollout.canary}, batch: ${rollout.batch}, maxFailures: 0, pause: 0s }`,
    'changes:',
    '  - id: many-steps',
    '    title: Many true steps',
    '    risk: 0',
    '    on: fleet',
    '    apply:',
  ];
  for (let i = 0; i < steps; i++) lines.push(`      - run: "true"`);
  lines.push('    rollback:', '      - run: "true"');
  return lines.join('\n') + '\n';
}

/** The same hosts for Ansible: reached through the same ssh_config (`-F`). */
export function fleetAnsibleInventory(hosts: string[], sshConfig: string): string {
  return ['[fleet]', ...hosts, '', '[fleet:vars]', `ansible_ssh_common_args=-F ${sshConfig}`, 'ansible_python_interpreter=/usr/bin/python3', ''].join('\n');
}

/**
 * forks 5, pipelining on, ControlPersist on (Ansible's own ssh_args without its `-C`: our ssh
 * does not compress either); masters in `controlDir`, so the bench can close them after each run.
 */
export function fleetAnsibleCfg(inventory: string, controlDir: string): string {
  return [
    '[defaults]',
    `inventory = ${inventory}`,
    'forks = 5',
    'gathering = explicit',
    'retry_files_enabled = False',
    'host_key_checking = True',
    '',
    '[ssh_connection]',
    'pipelining = True',
    'ssh_args = -o ControlMaster=auto -o ControlPersist=60s',
    `control_path_dir = ${controlDir}`,
    '',
  ].join('\n');
}

/** `tasks` × `true` on the fleet group: `ansible.builtin.command` (a Python module run per task) or `raw` (the command alone). */
export function fleetAnsiblePlaybook(tasks: number, module: 'command' | 'raw'): string {
  const lines = ['- hosts: fleet', '  gather_facts: false', '  tasks:'];
  for (let i = 1; i <= tasks; i++) lines.push(`    - name: task ${i}`, `      ansible.builtin.${module}: "true"`);
  return lines.join('\n') + '\n';
}
