/**
 * The layering, checked by `npm run lint` (dependency-cruiser). Data flows one
 * way, from the ground floor up:
 *
 *   shared/      error kinds, workflow contracts and names, validation types, names, LSNs, durations
 *   config/      the one schema parsed into one Config; the stack's profiles as an overlay
 *   catalog/     table declarations and everything derived from them (pure, plus its Postgres store)
 *   connectors/  one folder per external system: the only place that builds its client
 *   activities/  Temporal-facing steps over the connectors and the catalog
 *   workflows/   deterministic orchestration (types only from activities/)
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
      name: 'workflows-import-activities-as-types',
      comment: 'Workflow code is replayed and bundled: it reaches activities through proxyActivities, importing their types only.',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^activities/', dependencyTypesNot: ['type-only'] },
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
