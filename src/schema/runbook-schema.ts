import { GROUP_NAME_PATTERN, HOST_NAME_PATTERN, PERCENT_PATTERN } from '../model/hosts.js';
import { unitDefs } from '../model/units.js';
import { stepTypes } from '../steps/registry.js';

export const SCHEMA_ID = 'https://runbook.dev/schema/runbook-v1.json';

const strings = { type: 'array', items: { type: 'string' } } as const;

/** Keys every step may carry beside its one type key. */
export const commonStepProperties = {
  name: { type: 'string', minLength: 1, description: 'Label shown in plans and progress (default: a description of the step).' },
  timeout: { $ref: '#/$defs/templatedDuration', description: 'Kill the step (its whole process group) after this long; it counts as failed.' },
  retries: { type: 'integer', minimum: 0, maximum: 1000, description: 'Extra attempts after a failure (verify steps: polling).' },
  interval: { $ref: '#/$defs/duration', description: 'Pause between attempts (default 1s).' },
  passes: { type: 'integer', minimum: 1, maximum: 1000, description: 'Verify: consecutive successes required (default 1).' },
  settle: { $ref: '#/$defs/duration', description: 'Verify: wait this long before the first attempt.' },
  cwd: { type: 'string', minLength: 1, description: 'Working directory, relative to the runbook’s directory.' },
  env: { type: 'object', additionalProperties: { type: 'string' }, description: 'Extra environment variables for the step.' },
} as const;

/** A rollout figure: a whole number of hosts (at least `min`), or a percentage of the targeted hosts. */
const hostCount = (min: number, description: string) => ({
  description,
  oneOf: [
    { type: 'integer', minimum: min, maximum: 1_000_000 },
    { type: 'string', pattern: PERCENT_PATTERN },
  ],
});

const groupName = { type: 'string', pattern: GROUP_NAME_PATTERN } as const;

/** `hosts:` — groups of ssh destinations, each a list of names or a map of names to the host's own vars. */
const hostsSchema = {
  type: 'object',
  propertyNames: { pattern: GROUP_NAME_PATTERN },
  description: 'Host groups: each a list of ssh destinations ([user@]host or a ~/.ssh/config alias), or a map of them to their own vars ({{ host.vars.X }}). --inventory FILE replaces it.',
  additionalProperties: {
    oneOf: [
      { type: 'array', uniqueItems: true, items: { type: 'string', pattern: HOST_NAME_PATTERN } },
      { type: 'object', propertyNames: { pattern: HOST_NAME_PATTERN }, additionalProperties: { type: ['object', 'null'] } },
    ],
  },
} as const;

/** The full v1 runbook JSON Schema, assembled from the step types' fragments. */
export function buildRunbookSchema(): Record<string, unknown> {
  const typeProperties: Record<string, unknown> = Object.fromEntries(stepTypes.map((t) => [t.type, { ...t.schema, description: (t.schema.description as string | undefined) ?? t.summary }]));
  const otherTypes = stepTypes.map((t) => t.type).filter((t) => t !== 'env');
  // `env` is both a step type (required variables) and a common key (extra environment for
  // another step). It is the type only when the step has no other type key.
  const envKey = { description: `Alone: the env step type (${stepTypes.find((t) => t.type === 'env')?.summary ?? ''}). Beside another type key: extra environment variables for that step.` };
  const noOtherType = { not: { anyOf: otherTypes.map((o) => ({ required: [o] })) } };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: SCHEMA_ID,
    title: 'runbook v1',
    description: 'A reviewable, executable, reversible change plan: changes with risk, apply, verify and rollback steps.',
    type: 'object',
    additionalProperties: false,
    required: ['runbook', 'name', 'changes'],
    patternProperties: { '^x-': { description: 'Free for YAML anchors reused with merge keys (`<<: *anchor`); ignored otherwise.' } },
    properties: {
      runbook: { const: 1, description: 'Format version; always 1.' },
      name: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]*$', description: 'Identifier of the runbook (names its state and lock).' },
      title: { type: 'string', description: 'Human title.' },
      description: { type: 'string', description: 'What this runbook is for.' },
      vars: { type: 'object', propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_-]*$' }, description: 'Variable defaults; --vars-file and --var override them.' },
      secrets: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_-]*$' }, uniqueItems: true, description: 'Names of variables (vars or environment) whose values are never shown or stored.' },
      policy: {
        type: 'object',
        additionalProperties: false,
        description: 'Risk policy.',
        properties: {
          maxRisk: { type: 'integer', minimum: 0, maximum: 10, description: 'Changes above this risk need --accept-risk (default 5).' },
          confirmFrom: { type: 'integer', minimum: 0, maximum: 11, description: 'Changes at or above this risk ask for confirmation, or need --yes without a terminal (default 3).' },
          onFailure: { enum: ['rollback-all', 'rollback-change', 'rollback-failed', 'stop'], description: 'What a failed apply or verify does (default rollback-all: every change of this run, on every host it reached; rollback-failed: only the hosts that failed).' },
          planMaxAge: { $ref: '#/$defs/duration', description: 'apply refuses a saved plan (plan --out) older than this (apply --max-age overrides it).' },
        },
      },
      checkpoint: {
        type: 'object',
        additionalProperties: false,
        description: 'Taken before the first change.',
        properties: {
          git: {
            type: 'object',
            additionalProperties: false,
            required: ['dir'],
            description: 'Commit everything not ignored in a git checkout (a clean tree just records HEAD); undone when a rollback leaves nothing of the run applied.',
            properties: {
              dir: { type: 'string', minLength: 1, description: 'The checkout.' },
              message: { type: 'string', minLength: 1, description: 'Commit message (default "checkpoint: before <name>").' },
              exclude: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Paths or globs (git pathspecs, relative to dir) left out of the checkpoint: not committed, never touched.' },
              include: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Untracked paths or globs (git pathspecs, relative to dir) to commit even though they look like secrets or are over 10 MB.' },
            },
          },
        },
      },
      hosts: hostsSchema,
      rollout: {
        type: 'object',
        additionalProperties: false,
        description: 'How changes on hosts roll out (default: canary 1, batch 1, maxFailures 0, pause 0s). Numbers of hosts, or percentages of the targeted hosts ("25%").',
        properties: {
          canary: hostCount(0, 'Hosts changed first, alone, before any other (default 1; 0: none). A percentage rounds up.'),
          batch: hostCount(1, 'Hosts changed together in each later batch (default 1). A percentage rounds up, to at least 1.'),
          maxFailures: hostCount(0, 'Failed hosts tolerated before the rollout stops (default 0). A percentage rounds down.'),
          pause: { $ref: '#/$defs/duration', description: 'Wait between batches (default 0s).' },
        },
      },
      preflight: { type: 'array', items: { $ref: '#/$defs/step' }, description: 'Read-only checks run before anything changes; any failure stops the apply.' },
      watch: {
        type: 'object',
        additionalProperties: false,
        required: ['duration'],
        description: 'After the last change, keep running every applied change’s verify steps for this window; a failure rolls back.',
        properties: { duration: { $ref: '#/$defs/duration', description: 'Length of the window.' }, interval: { $ref: '#/$defs/duration', description: 'Pause between rounds (default 5s).' } },
      },
      changes: { type: 'array', minItems: 1, items: { $ref: '#/$defs/change' }, description: 'Applied one at a time, in order.' },
      state: { ...strings, description: 'Report: the system’s state when the plan was written.' },
      troubleshooting: {
        type: 'array',
        description: 'Report: problems that may appear and their fixes.',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['title'],
          properties: { title: { type: 'string', description: 'The problem.' }, symptom: { type: 'string', description: 'How it shows.' }, fix: { type: 'string', description: 'What to do.' } },
        },
      },
      expected: {
        type: 'array',
        description: 'Report: expected results.',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['metric'],
          properties: {
            metric: { type: 'string', description: 'What is measured.' },
            before: { type: 'string', description: 'Value before.' },
            after: { type: 'string', description: 'Value after.' },
            gain: { type: 'string', description: 'Improvement.' },
          },
        },
      },
      verdict: { type: 'string', description: 'Report: the author’s verdict.' },
    },
    $defs: {
      ...unitDefs,
      change: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'title', 'risk', 'apply'],
        properties: {
          id: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]*$', description: 'Stable identifier (lowercase, digits, . _ -).' },
          title: { type: 'string', minLength: 1, description: 'Human title.' },
          risk: { type: 'integer', minimum: 0, maximum: 10, description: 'Risk score 0..10.' },
          impact: { type: 'string', description: 'Impact on production if it goes wrong.' },
          rollbackTime: { type: 'string', description: 'How long undoing it takes, e.g. 5m.' },
          verifiedBy: { type: 'string', description: 'Short words for the plan’s verification column.' },
          on: {
            description: 'Where it runs: a host group, a list of groups, or `local` (the default): this machine.',
            oneOf: [groupName, { type: 'array', minItems: 1, uniqueItems: true, items: groupName }],
          },
          does: { ...strings, description: 'What the change does.' },
          breaks: {
            type: 'array',
            description: 'What can break.',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['what'],
              properties: { what: { type: 'string', description: 'What breaks.' }, probability: { type: 'string', description: 'How likely, e.g. <5%.' }, fix: { type: 'string', description: 'What to do then.' } },
            },
          },
          protections: { ...strings, description: 'What guards against failure.' },
          benefits: { ...strings, description: 'Why it is worth it.' },
          apply: { type: 'array', minItems: 1, items: { $ref: '#/$defs/step' }, description: 'Steps that make the change.' },
          verify: { type: 'array', items: { $ref: '#/$defs/step' }, description: 'Checks run after apply (retries, passes, settle).' },
          rollback: {
            description: 'Steps that undo it (when omitted, every apply step must undo itself or change nothing), or `{ none: reason }` for a change that cannot be undone.',
            oneOf: [
              { type: 'array', items: { $ref: '#/$defs/step' } },
              {
                type: 'object',
                additionalProperties: false,
                required: ['none'],
                properties: { none: { type: 'string', minLength: 1, description: 'Why this change cannot be undone, and what to do instead; plan shows it.' } },
              },
            ],
          },
        },
      },
      step: {
        type: 'object',
        additionalProperties: false,
        description: 'Exactly one step type key plus common keys.',
        properties: { ...typeProperties, ...commonStepProperties, env: envKey },
        oneOf: stepTypes.map((t) => (t.type === 'env' ? { required: ['env'], ...noOtherType } : { required: [t.type] })),
        if: noOtherType,
        then: { properties: { env: typeProperties.env } },
        else: { properties: { env: commonStepProperties.env } },
      },
    },
  };
}
