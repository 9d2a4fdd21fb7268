/**
 * Activities of schema changes (workflows/schema-changes.ts): read the DDL
 * log Postgres writes (public.cdc_ddl_log), apply one change to the table's
 * ClickHouse objects, refuse what cannot be applied, resume a refused table.
 *
 * Applying a change, with the table's consumer stopped throughout:
 *   0. hold until every partition of the topic has passed the DDL (holdUntilPassed)
 *   1. drop the queue's views and the queue (the group's offsets stay in Kafka)
 *   2. rename, widen, drop columns of the storage tables (catalog/schema-change.ts)
 *   3. rewind the group, per partition, to the first message at or after the DDL's LSN: those
 *      messages were read by the old queue, without the new shape; the
 *      deduplicated change log and the current state absorb the replay
 *   4. reconcile (catalog/reconcile.ts): new columns added, the queue and its
 *      views created with the same group
 * A change that needs values only Postgres has (a default that existing rows
 * read, a renamed column) is followed by a resync (the workflow runs it). Each step is
 * idempotent: a retry repeats the whole activity.
 *
 * With a ClickHouse replica set, an applied change is then applied the same
 * way on every other host that answers, with its own consumer group (planned
 * against that host's columns); a refusal stops the table's consumer on
 * every host that answers, and a resume applies the shape on each. The
 * resync that follows a reload reloads every host (activities/resync.ts).
 * A host that did not answer is named in the steps and left as it was:
 * `npm run setup` once it is back brings its objects level, and a resync of
 * the table its rows.
 */
import type pg from 'pg';
import { type ClickHouseClient } from '../connectors/clickhouse/client.ts';
import type { TableObjects } from '../catalog/object-types.ts';
import { queueViewsDropOrder, tableNames, type TableNames } from '../shared/names.ts';
import { deriveOptions, deriveTables } from '../catalog/derive.ts';
import { applyPlan, liveTables, planTable, type TablePlan } from '../catalog/reconcile.ts';
import { tableRetention } from '../catalog/retention.ts';
import { describeStep, planSchemaChange, refusalMessage, sameColumns, storageStatements, type SchemaPlan, type TableShape } from '../catalog/schema-change.ts';
import { catalogEntries, isCaptured, setTableState } from '../catalog/store.ts';
import type { Endpoints } from '../config/load.ts';
import type { ActivityDeps } from './deps.ts';
import { IngestErrorType, permanentFailure } from '../shared/errors.ts';
import { heartbeat } from './heartbeat.ts';
import { holdUntilPassed, rewindToChange } from './schema-change-offsets.ts';
import { onOtherReplicas } from './apply-replicas.ts';
import { replicaEndpoints } from '../config/clickhouse-replicas.ts';
import { groupSource } from '../connectors/postgres/sources.ts';
import { logDatabase, logGroupOf, pendingInGroupDatabases, type PendingChange } from './schema-change-sources.ts';

export type SchemaChangeDeps = Pick<ActivityDeps, 'pool' | 'clickhouse' | 'kafka' | 'endpoints'>;

export type { PendingChange } from './schema-change-sources.ts';

export interface AppliedChange {
  id: string;
  /** The changes applied together (this one and the table's later pending ones). */
  ids?: string[];
  source: string;
  status: 'applied' | 'refused' | 'skipped';
  steps: string[];
  /** The table must be loaded again (resyncTable) before the change is complete. */
  reload: boolean;
  message?: string;
}

interface LogRow {
  id: string;
  source: string;
  ddl: string;
  lsn: string;
  before: TableShape | null;
  status: string;
}

/** A log row as applying reads it (lsn as a decimal string). */
const LOG_ROW = `id::text, source, ddl, (lsn - '0/0')::text as lsn, before, status`;

/**
 * Reconcile's plan without the copy of the per-message record into `<t>_changes` that follows a
 * recreated feed view: the consumer is stopped while the view is replaced, so nothing is missed, and
 * the copy would write every past change again without the columns the feed no longer selects.
 */
function withoutBackfill(plan: TablePlan): TablePlan {
  return { ...plan, actions: plan.actions.map((a) => (a.kind === 'feed-changes' && a.backfill ? { ...a, backfill: false, sql: a.sql.slice(0, -1) } : a)) };
}

/** Rounds of folding changes that arrive while one is applied; a table still moving after them is left to its reload's check. */
const FOLD_ROUNDS = 10;

export function createSchemaChangeActivities(deps: SchemaChangeDeps) {

  async function objectsOf(source: string, env: Endpoints = deps.endpoints) {
    const entry = (await catalogEntries(deps.pool)).find((e) => e.declaration.source === source && isCaptured(e.state));
    if (!entry) return undefined;
    const [derived] = await deriveTables(deps.pool, [entry.declaration], { ...deriveOptions(env), sourceOf: (group) => groupSource(env, group, deps.pool) });
    return { entry, t: derived!.objects };
  }

  async function liveCurrent(ch: ClickHouseClient, t: TableObjects): Promise<{ columns: { name: string; type: string }[]; sortingKey: string }> {
    const live = (await liveTables(ch, t.names.database)).get(t.current.name);
    return { columns: live?.columns ?? [], sortingKey: live?.sortingKey ?? '' };
  }

  /** By names alone: a table whose new shape derives no objects is stopped too. */
  async function stopConsumer(ch: ClickHouseClient, t: { names: TableNames }): Promise<void> {
    for (const v of queueViewsDropOrder(t.names)) await ch.command({ query: `DROP VIEW IF EXISTS ${v}` });
    await ch.command({ query: `DROP TABLE IF EXISTS ${t.names.queue}` });
  }

  async function storageSteps(ch: ClickHouseClient, t: TableObjects, plan: SchemaPlan): Promise<void> {
    // On a cluster: the local tables and the Distributed tables over them, ON CLUSTER (catalog/schema-change.ts).
    for (const st of storageStatements(t, plan)) await ch.command({ query: st.sql, ...(st.mutation ? { clickhouse_settings: { mutations_sync: '2' } } : {}) });
  }

  /** In the DDL log of `db`: the pipeline's database, or a group's own (activities/schema-change-sources.ts). */
  async function setStatus(db: pg.Pool, id: string, status: AppliedChange['status'], outcome: string): Promise<void> {
    await db.query(`update public.cdc_ddl_log set status = $2, outcome = $3, applied_at = now() where id = $1`, [id, status, outcome]);
  }

  /** Stop the table's stream (its events wait in Kafka), mark it blocked and the change refused, with the reason and the fix. */
  async function refuse(db: pg.Pool, ch: ClickHouseClient, names: TableNames, id: string, message: string): Promise<AppliedChange> {
    await stopConsumer(ch, { names });
    // On every other host too (the queue and its views have the same names there; only their groups differ).
    await onOtherReplicas(deps.endpoints, (m) => heartbeat({ step: m }), (other) => stopConsumer(other, { names }));
    await setTableState(deps.pool, names.source, 'blocked', message);
    await setStatus(db, id, 'refused', message);
    return { id, source: names.source, status: 'refused', steps: [], reload: false, message };
  }

  /** The table's shape in Postgres now, as the event trigger records it. */
  async function shapeNow(db: pg.Pool, source: string): Promise<TableShape> {
    return (await db.query<{ s: TableShape }>('select public.astros_table_shape($1::regclass) as s', [source])).rows[0]!.s;
  }

  /** This change and every later pending one of the table. */
  async function batchOf(db: pg.Pool, row: LogRow): Promise<{ id: string; ddl: string }[]> {
    const { rows } = await db.query<{ id: string; ddl: string }>(
      `select id::text, ddl from public.cdc_ddl_log where source = $1 and status = 'pending' and id >= $2 order by id`,
      [row.source, row.id],
    );
    return rows;
  }

  /** The table's objects as the catalog derives them now; a shape that derives none is refused, a table no longer captured skipped. */
  async function objectsOrRefusal(db: pg.Pool, ch: ClickHouseClient, env: Endpoints, row: LogRow): Promise<{ t: TableObjects } | AppliedChange> {
    let found: Awaited<ReturnType<typeof objectsOf>>;
    try {
      found = await objectsOf(row.source);
    } catch (err) {
      // The new shape derives no objects (a column of a type not mapped, a name that clashes): refused.
      const entry = (await catalogEntries(deps.pool)).find((e) => e.declaration.source === row.source);
      const topicMs = tableRetention(entry?.declaration.retention, env.retention).topicMs;
      const message = refusalMessage(row, (err as Error).message.replace(`${row.source}: `, ''), topicMs);
      return refuse(db, ch, tableNames(row.source, deriveOptions(env).names), row.id, message);
    }
    if (found) return found;
    await setStatus(db, row.id, 'skipped', 'the table is no longer captured');
    return { id: row.id, source: row.source, status: 'skipped', steps: [], reload: false, message: 'the table is no longer captured' };
  }

  /** Consumer stopped, storage changed, group rewound to `lsn`, consumer and views recreated: the steps done, as text. */
  async function applyPlanned(ch: ClickHouseClient, t: TableObjects, plan: SchemaPlan, lsn: string | undefined): Promise<string[]> {
    heartbeat({ step: `${t.names.source}: stopping its consumer` });
    await stopConsumer(ch, t);
    await storageSteps(ch, t, plan);
    heartbeat({ step: `${t.names.source}: rewinding its consumer group` });
    const rewound = lsn !== undefined ? await rewindToChange(deps, ch, t, lsn) : 'nothing to read again';
    await applyPlan(ch, withoutBackfill(await planTable(ch, t, await liveTables(ch, t.names.database))), () => undefined);
    return [...plan.steps.map(describeStep), rewound];
  }

  /**
   * The applied change on every other replica (`before` to `shape`, from `lsn`): what was done there, per replica.
   * `resumed`: a blocked table's consumers are stopped already, so there is no stream to hold until it passes the change.
   */
  async function applyOnOtherReplicas(db: pg.Pool, source: string, before: TableShape | undefined, shape: TableShape, lsn: string | undefined, resumed = false): Promise<string[]> {
    const said: string[] = [];
    await onOtherReplicas(deps.endpoints, (m) => said.push(m), async (ch, r) => {
      const found = await objectsOf(source, replicaEndpoints(deps.endpoints, r));
      if (!found) return;
      const { t } = found;
      if (lsn !== undefined && !resumed) await holdUntilPassed(deps, ch, t, lsn, db);
      await stopConsumer(ch, t);
      const live = await liveCurrent(ch, t);
      const plan = planSchemaChange(before, shape, t, live.columns, live.sortingKey);
      if (plan.refused) throw new Error(`${r.name}: ${source}: ${plan.refused}`);
      said.push(`${r.name}: ${(await applyPlanned(ch, t, plan, lsn)).join('; ')}`);
    });
    return said;
  }

  return {
    /** Pending changes in log order, per source database; a blocked table's wait until it is resumed (a dropped one's are moot). */
    async pendingSchemaChanges(input: { tables?: string[] }): Promise<PendingChange[]> {
      const { rows } = await deps.pool.query<PendingChange>(
        `select l.id::text as id, l.source, (l.lsn - '0/0')::text as lsn from public.cdc_ddl_log l
           join public.captured_tables c on c.source = l.source
          where l.status = 'pending' and c.state not in ('blocked', 'dropped', 'removed') and ($1::text[] is null or l.source = any($1))
          order by l.id limit 100`,
        [input.tables ?? null],
      );
      return [...rows, ...(await pendingInGroupDatabases(deps.pool, deps.endpoints, input.tables))];
    },

    /**
     * Apply one logged change to the table's ClickHouse objects (see the file header), or refuse it.
     * With it, every later pending change of the table, and any that arrives while this runs: the
     * consumer stays stopped and the group is rewound to this change's LSN (before theirs), so the
     * plan is simply made again for the table's shape then, until it holds still.
     */
    async applySchemaChange(input: { id: string; group?: string }): Promise<AppliedChange> {
      const { endpoints: env, clickhouse: ch } = deps;
      const db = logDatabase(deps.pool, env, input.group);
      const { rows } = await db.query<LogRow>(`select ${LOG_ROW} from public.cdc_ddl_log where id = $1`, [input.id]);
      const row = rows[0];
      if (!row) throw permanentFailure(IngestErrorType.InvalidInput, `no schema change ${input.id} in public.cdc_ddl_log${input.group ? ` of group ${input.group}'s database` : ''}`);
      if (row.status !== 'pending') return { id: row.id, source: row.source, status: row.status as AppliedChange['status'], steps: [], reload: false };
      // The shape first, then the objects: they are derived from the table as it is at least that late.
      let shape = await shapeNow(db, row.source);
      let found = await objectsOrRefusal(db, ch, env, row);
      if ('status' in found) return found;
      let batch = await batchOf(db, row);
      if (row.before && sameColumns(row.before, shape)) {
        // e.g. REPLICA IDENTITY, a constraint, a default for future rows: nothing ClickHouse holds changed.
        for (const b of batch) await setStatus(db, b.id, 'skipped', 'no column or key changed');
        return { id: row.id, ids: batch.map((b) => b.id), source: row.source, status: 'skipped', steps: [], reload: false };
      }
      await holdUntilPassed(deps, ch, found.t, row.lsn, db);
      heartbeat({ step: `${row.source}: stopping its consumer` });
      await stopConsumer(ch, found.t);
      let rewound: string | undefined;
      let plan: SchemaPlan;
      for (let round = 1; ; round++) {
        const { t } = found;
        const live = await liveCurrent(ch, t);
        try {
          plan = planSchemaChange(row.before ?? undefined, shape, t, live.columns, live.sortingKey);
        } catch (err) {
          plan = { steps: [], refused: (err as Error).message, reload: false };
        }
        if (plan.refused) {
          const message = refusalMessage({ source: row.source, ddl: batch.map((b) => b.ddl).join('; ') }, plan.refused, t.retention.topicMs);
          return refuse(db, ch, t.names, row.id, message);
        }
        await storageSteps(ch, t, plan);
        heartbeat({ step: `${row.source}: rewinding its consumer group` });
        rewound ??= await rewindToChange(deps, ch, t, row.lsn);
        const moved = await shapeNow(db, row.source);
        if (sameColumns(moved, shape) || round >= FOLD_ROUNDS) break;
        // Altered again meanwhile: fold it in.
        shape = moved;
        found = await objectsOrRefusal(db, ch, env, row);
        if ('status' in found) return found;
        batch = await batchOf(db, row);
      }
      await applyPlan(ch, withoutBackfill(await planTable(ch, found.t, await liveTables(ch, found.t.names.database))), () => undefined);
      const steps = [...plan.steps.map(describeStep), rewound, ...(await applyOnOtherReplicas(db, row.source, row.before ?? undefined, shape, row.lsn))];
      const ids = batch.map((b) => b.id);
      if (!plan.reload) for (const id of ids) await setStatus(db, id, 'applied', steps.join('; '));
      return { id: row.id, ids, source: row.source, status: 'applied', steps, reload: plan.reload };
    },

    /** Record changes applied once their reload (resync) is done. */
    async finishSchemaChange(input: { ids: string[]; steps: string[]; group?: string }): Promise<void> {
      const db = logDatabase(deps.pool, deps.endpoints, input.group);
      for (const id of input.ids) await setStatus(db, id, 'applied', input.steps.join('; '));
    },

    /**
     * After the cause of a refusal is fixed: apply the table's current shape
     * (from the first refused change on), read again from that change's LSN,
     * and let it flow. Refuses again, changing nothing, while it still cannot
     * be applied.
     */
    async resumeTable(input: { source: string }): Promise<AppliedChange> {
      const ch = deps.clickhouse;
      const gone = (await catalogEntries(deps.pool)).find((e) => e.declaration.source === input.source && e.state === 'dropped');
      if (gone) throw permanentFailure(IngestErrorType.TableNotCaptured, gone.lastError ?? `${input.source} was dropped or renamed in Postgres: npm run tables -- add ${input.source} captures it again`);
      const found = await objectsOf(input.source);
      if (!found) throw permanentFailure(IngestErrorType.TableNotCaptured, `${input.source} is not captured (astros tables list shows what is)`);
      const { t, entry } = found;
      const db = logDatabase(deps.pool, deps.endpoints, logGroupOf(deps.endpoints, entry));
      const { rows } = await db.query<LogRow>(
        `select ${LOG_ROW} from public.cdc_ddl_log where source = $1 and status in ('refused', 'pending') order by id`,
        [input.source],
      );
      const first = rows[0];
      const live = await liveCurrent(ch, t);
      const shape = await shapeNow(db, input.source);
      const plan = planSchemaChange(first?.before ?? undefined, shape, t, live.columns, live.sortingKey);
      if (plan.refused) {
        throw permanentFailure(IngestErrorType.SchemaChangeRefused, `${input.source}: still cannot be applied: ${plan.refused}`);
      }
      const steps = [...(await applyPlanned(ch, t, plan, first?.lsn)), ...(await applyOnOtherReplicas(db, input.source, first?.before ?? undefined, shape, first?.lsn, true))];
      for (const r of rows) await setStatus(db, r.id, r.status === 'refused' ? 'skipped' : 'applied', `resumed: ${steps.join('; ')}`);
      await setTableState(deps.pool, input.source, entry.state !== 'blocked' ? entry.state : entry.origin === 'command' ? 'streaming' : 'active', null);
      // A resume always reloads: events written while the table was blocked may not have fitted its copy.
      return { id: first?.id ?? '', source: input.source, status: 'applied', steps, reload: true };
    },
  };
}
