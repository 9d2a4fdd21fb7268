/**
 * Activities of `astros tables add|remove` (workflows addTable, removeTable):
 * check a table, change the live catalog, apply it to the running stack the
 * way `npm run setup` does, and wait until the connector captures the table
 * (its rows are then loaded by resyncTable). Each is idempotent: a retry, or a second
 * run of the same add, finds what the first did and goes on from there.
 *
 * Errors a person must fix are non-retryable and one line that names the fix
 * (TableNotReady, TableAlreadyCaptured, TableNotCaptured); they are raised
 * before anything is changed.
 */
import { keyColumns, tableObjects } from '../catalog/clickhouse-objects.ts';
import { checkColumnOptions } from '../catalog/column-options.ts';
import { groupOf, parseDeclarations, type TableDeclarationInput } from '../catalog/declaration.ts';
import { introspectTable, SourceTableMissing } from '../catalog/introspect.ts';
import { pipelineNames, dropOrder, groupNames, tableNames } from '../shared/names.ts';
import { onOtherReplicas } from './apply-replicas.ts';
import { capturedTables, deriveOptions } from '../catalog/derive.ts';
import { pgIdent } from '../catalog/load-encoding.ts';
import { beginAdd, capturedGroups, catalogEntries, isCaptured, removeTable, setTableState, type TableState } from '../catalog/store.ts';
import { slotState } from '../connectors/postgres/slots.ts';
import { groupSource } from '../connectors/postgres/sources.ts';
import { groupDatabaseName as databaseOf } from '../config/load.ts';
import { IngestErrorType, permanentFailure } from '../shared/errors.ts';
import { cancelled, heartbeat } from './heartbeat.ts';
import { writeHistoryModels } from '../catalog/dbt-history.ts';
import { PrivilegeNeeded } from '../connectors/postgres/publication.ts';
import { applyCatalog } from './apply-catalog.ts';
import type { ActivityDeps } from './deps.ts';

/** The dbt history models a run wrote (files changed), or why it wrote none. */
export interface DbtModels {
  written: string[];
  warning?: string;
}

export type TablesDeps = Pick<ActivityDeps, 'pool' | 'clickhouse' | 'kafka' | 'connect' | 'endpoints'>;

const CDC_ROLE = pipelineNames.cdcRole;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CheckedTable {
  source: string;
  key: string[];
  /** Postgres' estimate of the table's rows. */
  estimatedRows: number;
}

const notReady = (m: string) => permanentFailure(IngestErrorType.TableNotReady, m);

export function createTableActivities(deps: TablesDeps) {
  const env = deps.endpoints;

  /** Heartbeat every few seconds while `work` runs (connector registration and consumer rebalances take tens of seconds). */
  async function withHeartbeat<T>(step: string, work: (log: (m: string) => void) => Promise<T>): Promise<T> {
    let last = step;
    const timer = setInterval(() => heartbeat({ step: last }), 5_000);
    try {
      return await work((m) => {
        last = m;
        heartbeat({ step: m });
      });
    } finally {
      clearInterval(timer);
    }
  }

  return {
    /** Can the table be captured as declared? Changes nothing. */
    async checkTableForCapture(input: TableDeclarationInput): Promise<CheckedTable> {
      let decl;
      try {
        [decl] = parseDeclarations([input], 'tables add');
      } catch (err) {
        throw notReady((err as Error).message.replaceAll('\n', '; '));
      }
      const d = decl!;
      // The table is read in its group's source database (ASTROS_GROUP_DATABASES: connectors/postgres/sources.ts).
      const srcDb = groupSource(env, groupOf(d), deps.pool);
      const src = await introspectTable(srcDb, d.source).catch((err: unknown) => {
        if (err instanceof SourceTableMissing) throw notReady(`Postgres has no table ${d.source}${env.groupDatabases[groupOf(d)] ? ` in database ${databaseOf(env, groupOf(d))} (group ${groupOf(d)})` : ''}: create it first, or check the name (schema.table)`);
        throw err;
      });
      let key: string[];
      try {
        key = keyColumns(d, src);
        checkColumnOptions(d, src);
        tableObjects(d, src, tableNames(d.source, deriveOptions(env).names), deriveOptions(env).sink);
      } catch (err) {
        const m = (err as Error).message;
        throw notReady(/no primary key/.test(m) ? `${d.source} has no primary key: add one, or name the key columns: astros tables add ${d.source} --key <col[,col]>` : m);
      }
      const existing = (await catalogEntries(deps.pool)).find((e) => e.declaration.source === d.source);
      // One table, one group: a table streams through its group's slot, and a move would have to hand its
      // position over between two slots. Moving is a remove and an add (the add reloads it).
      const [was, wants] = [databaseOf(env, groupOf(existing?.declaration ?? d)), databaseOf(env, groupOf(d))];
      // The catalog, the topic, the consumer group and the ClickHouse objects are named by schema.table, in every source database.
      if (existing && isCaptured(existing.state) && was !== wants) {
        throw permanentFailure(
          IngestErrorType.TableAlreadyCaptured,
          `${d.source} is already captured from database ${was} (group ${groupOf(existing.declaration)}); tables are named by schema.table across source databases, so ${d.source} of database ${wants} cannot be captured too: give it another schema or name there (alter table ${d.source} set schema <other>), then add it under that name`,
        );
      }
      if (existing && isCaptured(existing.state) && groupOf(existing.declaration) !== groupOf(d)) {
        throw permanentFailure(
          IngestErrorType.TableAlreadyCaptured,
          `${d.source} streams in group ${groupOf(existing.declaration)}, not ${groupOf(d)}: to move it, astros tables remove ${d.source}, then astros tables add ${d.source} --group ${groupOf(d)} (reloads it)`,
        );
      }
      if (existing && (existing.state === 'active' || existing.state === 'streaming')) {
        throw permanentFailure(IngestErrorType.TableAlreadyCaptured, `${d.source} is already captured (state ${existing.state}): nothing to do; to declare it again, astros tables remove ${d.source} first`);
      }
      const { rows } = await srcDb.query<{ may: boolean; reads: boolean; estimate: string }>(
        `select pg_has_role(current_user, c.relowner, 'USAGE') as may,
                coalesce(has_schema_privilege($2, n.oid, 'USAGE') and has_table_privilege($2, c.oid, 'SELECT'), false) as reads,
                greatest(c.reltuples, 0)::bigint::text as estimate
           from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $3`,
        [src.schema, CDC_ROLE, src.table],
      );
      const r = rows[0]!;
      const table = `${pgIdent(src.schema)}.${pgIdent(src.table)}`;
      if (!r.reads && !r.may) {
        throw notReady(`the CDC role ${CDC_ROLE} cannot read ${d.source}; as its owner (${src.owner}) or a superuser run: grant usage on schema ${pgIdent(src.schema)} to ${CDC_ROLE}; grant select on ${table} to ${CDC_ROLE};`);
      }
      if (src.replicaIdentity !== 'f' && !r.may) {
        throw notReady(`${d.source} needs REPLICA IDENTITY FULL and the pipeline may not set it; as its owner (${src.owner}) or a superuser run: alter table ${table} replica identity full;`);
      }
      return { source: d.source, key, estimatedRows: Number(r.estimate) };
    },

    /** Declare the table in the live catalog, state 'adding' (taking over an 'adding' or 'blocked' row). */
    async declareAddingTable(input: TableDeclarationInput): Promise<void> {
      const { conflict, declaration } = await beginAdd(deps.pool, input);
      if (conflict) throw permanentFailure(IngestErrorType.TableAlreadyCaptured, `${declaration.source} is already captured (state ${conflict.state})`);
    },

    async setTableState(input: { source: string; state: TableState; error?: string }): Promise<void> {
      await setTableState(deps.pool, input.source, input.state, input.error ?? null);
    },

    /** What `npm run setup` does after its migrations: publication, topics, ClickHouse objects, each group's connector; what it said of retired groups. */
    async applyCatalogToStack(): Promise<string[]> {
      try {
        return await withHeartbeat('applying the catalog', (log) => applyCatalog(env, { db: deps.pool, clickhouse: deps.clickhouse, kafka: deps.kafka, connect: deps.connect }, log));
      } catch (err) {
        if (err instanceof PrivilegeNeeded) throw notReady(err.message.replaceAll('\n', ' '));
        throw err;
      }
    },

    /** Until its group's connector's task runs with the table in its list, on its slot (changes from then on stream). */
    async awaitCapture(input: { source: string }): Promise<void> {
      const g = groupNames((await capturedGroups(deps.pool)).get(input.source));
      for (;;) {
        const s = await deps.connect.state(g.connector);
        if (s.failure) throw new Error(`connector ${g.connector} failed: ${s.failure}`);
        // A new group's connector makes its slot as its task starts: the slot exists before anything streams.
        if (s.running && s.taskTables.includes(input.source) && (await slotState(deps.pool, g.slot)).found) return;
        heartbeat({ step: `waiting for the connector's task to capture ${input.source}` });
        if (cancelled()) throw new Error('cancelled');
        await sleep(1_000);
      }
    },

    /** Mark the table removed (stops capture once the catalog is applied). */
    async removeFromCatalog(input: { source: string }): Promise<void> {
      if (!(await catalogEntries(deps.pool)).some((e) => e.declaration.source === input.source)) {
        throw permanentFailure(IngestErrorType.TableNotCaptured, `${input.source} is not in the catalog (astros tables list shows what is captured)`);
      }
      await removeTable(deps.pool, input.source);
    },

    /**
     * Regenerate the dbt history models from the live catalog (one per captured table; a removed
     * table's goes): the add's table gets its model whoever started the add (the CLI, the Web UI).
     * Best effort: the table is captured either way, and `npm run dbt` writes them too.
     */
    async writeDbtModels(): Promise<DbtModels> {
      try {
        return { written: writeHistoryModels(await capturedTables(deps.pool, deriveOptions(env), () => undefined)) };
      } catch (err) {
        return { written: [], warning: `dbt models not written (${err instanceof Error ? err.message : String(err)}); npm run dbt writes them` };
      }
    },

    /** Drop the table's ClickHouse objects (views first, then the queue and the targets). */
    async dropTableTargets(input: { source: string }): Promise<string[]> {
      const n = tableNames(input.source, deriveOptions(env).names);
      const dropped: string[] = [];
      for (const { kind, name } of dropOrder(n)) {
        await deps.clickhouse.command({ query: `DROP ${kind} IF EXISTS ${name}` });
        dropped.push(name);
      }
      // The same names on every other replica (only its consumer groups differ); one that does not answer keeps them.
      await onOtherReplicas(env, (m) => dropped.push(m), async (ch, r) => {
        for (const { kind, name } of dropOrder(n)) await ch.command({ query: `DROP ${kind} IF EXISTS ${name}` });
        dropped.push(`${r.name}: the same objects`);
      });
      return dropped;
    },
  };
}

export type TableActivities = ReturnType<typeof createTableActivities>;
