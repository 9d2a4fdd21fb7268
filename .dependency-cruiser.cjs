/**
 * The layering, checked by `npm run lint` (dependency-cruiser). Data flows one
 * way, from the ground floor up:
 *
 *   shared/      error kinds, workflow contracts and names, validation types, names, LSNs, durations
 *   config/      the one schema parsed into one Config; the stack's profiles as an overlay
 *   catalog/     table declarations and everything derived from them (pure, plus its Postgres store)
 *   connectors/  one folder per external system: the only place that builds its client
 *   activities/  Temporal-facing steps over the connectors and the catalog
 *   workflows/   deterministic orchestration (shared/ and the workflow SDK; types only from the floors between)
 *   worker/ cli/ monitor/ stack/ simulator/   the processes (cli/ may start the others)
 *
 * A folder may import its own floor and the floors below, never one above, so
 * no two folders import each other. README.md's Layout table shows the same floors.
 */
const floors = ['shared', 'config', 'catalog', 'connectors', 'activities', 'workflows'];
const top = ['worker', 'monitor', 'stack', 'simulator', 'cli'];
const folder = (names) => `^(${names.join('|')})/`;

/** Per floor: nothing above it. */
const upward = floors.map((name, i) => ({
  name: `no-upward-from-${name}`,
  comment: `${name}/ sits on floor ${i}: it may import ${floors.slice(0, i + 1).join(', ')} only (the floors are in .dependency-cruiser.cjs).`,
  severity: 'error',
  from: { path: `^${name}/` },
  to: { path: folder([...floors.slice(i + 1), ...top]) },
}));

/** The processes: none imports another, except cli/ (its commands start the worker, the monitor, the stack). */
const processes = top
  .filter((name) => name !== 'cli')
  .map((name) => ({
    name: `no-process-from-${name}`,
    comment: `${name}/ is a process of its own: it may import the floors, not ${top.filter((t) => t !== name).join(', ')}.`,
    severity: 'error',
    from: { path: `^${name}/` },
    to: { path: folder(top.filter((t) => t !== name)) },
  }));

/** Libraries that open connections: each belongs to its system's folder in connectors/. */
const clients = [
  ['pg|pg-copy-streams', 'connectors/postgres/'],
  ['kafkajs', 'connectors/kafka/'],
  ['@clickhouse/client', 'connectors/clickhouse/'],
  ['aws4fetch', 'connectors/object-store/'],
  ['got', 'connectors/astronauts-api/'],
].map(([lib, home]) => ({
  name: `client-only-in-${home.split('/')[1]}`,
  comment: `${lib} is used in ${home} only: build the client there and call it (types may be imported anywhere).`,
  severity: 'error',
  from: { pathNot: `^(${home}|test/|bench/)` },
  to: { path: `node_modules/(${lib})/`, dependencyTypesNot: ['type-only'] },
}));

module.exports = {
  forbidden: [
    ...upward,
    ...processes,
    ...clients,
    {
      name: 'shared-has-no-io',
      comment: 'shared/ is the ground floor every layer imports, the workflow bundle included: no Node built-in, no client library.',
      severity: 'error',
      from: { path: '^shared/' },
      to: { dependencyTypes: ['core', 'npm', 'npm-dev'], pathNot: 'node_modules/(@temporalio/common|zod)/' },
    },
    {
      name: 'workflows-import-types-only',
      comment: 'Workflow code is replayed and bundled: it reaches activities through proxyActivities, and takes from the floors below shared/ their types only.',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^(config|catalog|connectors|activities)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'workflows-use-the-workflow-sdk-only',
      comment: 'No Node built-in and no library but the workflow SDK in workflow code (deterministic, bundled).',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { dependencyTypes: ['core', 'npm', 'npm-dev'], dependencyTypesNot: ['type-only'], pathNot: 'node_modules/@temporalio/(workflow|common)/' },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles between modules either.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.json'] },
  },
};
