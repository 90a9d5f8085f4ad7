// The layout guard (`npm run lint`): folders are stages and arrows point one way (STYLE.md §8).
// Type-only imports count too: a type that wants to point "up" belongs in model/.

/** The rooms of src/, lowest first: each may import only rooms listed before it (and itself). */
const rooms = ['model', 'support', 'steps', 'state', 'template', 'schema', 'load', 'secrets', 'plan', 'history', 'run', 'render', 'cli'];

/** What the CLI bundle leaves in node_modules (scripts/bundle.mjs `external`): loaded only by import(), when first used. */
const heavy = ['pg', 'pg-native', 'simple-git', 'execa', 'listr2', 'cron-parser', 'ajv'];

const room = (name) => `^src/${name}/`;
const anyOf = (names) => `^src/(${names.join('|')})/`;

const onlyDownwards = rooms.slice(0, -1).map((name, i) => ({
  name: `${name}-imports-only-lower-rooms`,
  comment: `src/${name}/ imports ${i === 0 ? 'no other room' : `only the rooms below it (${rooms.slice(0, i).join(', ')})`}: with every room importing downwards (${rooms.join(' < ')}), the folder graph has no cycle`,
  severity: 'error',
  from: { path: room(name) },
  to: { path: anyOf(rooms.slice(i + 1)) },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'no file-level import cycle',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'model-and-support-import-nothing-of-ours',
      comment: 'model/ (data and its pure helpers) and support/ (no domain knowledge) import nothing else from src/',
      severity: 'error',
      from: { path: anyOf(['model', 'support']) },
      to: { path: '^src/', pathNot: '^src/$1/' },
    },
    {
      name: 'state-imports-only-model-and-support',
      comment: 'storage never imports the stages that use it',
      severity: 'error',
      from: { path: room('state') },
      to: { path: '^src/', pathNot: anyOf(['state', 'model', 'support']) },
    },
    {
      name: 'steps-import-only-model-support-and-steps',
      severity: 'error',
      from: { path: room('steps') },
      to: { path: '^src/', pathNot: anyOf(['steps', 'model', 'support']) },
    },
    {
      name: 'pure-stages-never-import-effects',
      comment: 'load/, template/, plan/ and secrets/ are pure: they never import run/, render/, state/ or cli/',
      severity: 'error',
      from: { path: anyOf(['load', 'template', 'plan', 'secrets']) },
      to: { path: anyOf(['run', 'render', 'state', 'cli']) },
    },
    {
      name: 'render-only-listens',
      comment: 'renderers listen to events: they never import run/, state/ or cli/',
      severity: 'error',
      from: { path: room('render') },
      to: { path: anyOf(['run', 'state', 'cli']) },
    },
    {
      name: 'state-contract-never-imports-a-backend',
      severity: 'error',
      from: { path: '^src/state/[^/]+$' },
      to: { path: '^src/state/.+/' },
    },
    {
      name: 'file-backend-never-imports-postgres',
      severity: 'error',
      from: { path: '^src/state/file/' },
      to: { path: '^src/state/postgres/' },
    },
    {
      name: 'step-kit-never-imports-a-step-type',
      comment: 'steps/kit/ holds helpers: it may use steps/contract.ts, never a step type or the registry',
      severity: 'error',
      from: { path: '^src/steps/kit/' },
      to: { path: '^src/steps/[^/]+$', pathNot: '^src/steps/contract\\.ts$' },
    },
    {
      name: 'render-text-is-the-bottom-of-render',
      severity: 'error',
      from: { path: '^src/render/text/' },
      to: { path: '^src/render/', pathNot: '^src/render/text/' },
    },
    {
      name: 'cli-kit-never-imports-commands-or-main',
      severity: 'error',
      from: { path: '^src/cli/kit/' },
      to: { path: '^src/cli/', pathNot: '^src/cli/kit/' },
    },
    ...onlyDownwards,
    {
      name: 'heavy-packages-load-lazily',
      comment: `${heavy.join(', ')} are imported only with import(), when first used (plan and validate stay fast; the bundle leaves them out)`,
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/render/progress/listr(-fleet)?\\.ts$' },
      to: { path: `^node_modules/(${heavy.join('|')})/`, dynamic: false, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'listr-renderer-loads-lazily',
      comment: 'render/progress/listr.ts and listr-fleet.ts import listr2 at their top: they may only be loaded with import() (the fleet renderer builds on the other)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/render/progress/listr-fleet\\.ts$' },
      to: { path: '^src/render/progress/listr(-fleet)?\\.ts$', dynamic: false, dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
    exclude: { path: '^src/generated/' },
  },
};
