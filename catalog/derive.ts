/**
 * Every captured table's objects, derived from the live catalog's
 * declarations and the Postgres catalog; ClickHouse reconciled with them
 * (reconcile.ts) and the connector's configuration. Applying all of it to a
 * running stack: activities/apply-catalog.ts.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Queryable } from './db.ts';
import type { Endpoints } from '../config/load.ts';
import { tableObjects, type SinkSettings } from './clickhouse-objects.ts';
import type { TableObjects } from './object-types.ts';
import { checkColumnOptions } from './column-options.ts';
import { connectorFor, readConnectorFile, type ConnectorSource, type ConnectorSpec } from './connector.ts';
import { groupOf, type TableDeclaration } from './declaration.ts';
import { introspectTable, SourceTableMissing, type SourceTable } from './introspect.ts';
import { tableNames, type NameOptions } from '../shared/names.ts';
import { applyPlan, describeAction, liveTables, planTable, ttlActions, type TablePlan } from './reconcile.ts';
import { blockedLine, catalogEntries, droppedLine, isCaptured, isFlowing, type TableState } from './store.ts';

export interface CapturedTable {
  declaration: TableDeclaration;
  source: SourceTable;
  objects: TableObjects;
}

export interface DeriveOptions {
  sink: SinkSettings;
  names?: NameOptions;
  /** Where a group's tables are read (a group may read another database: connectors/postgres/sources.ts); default: the catalog's own connection. */
  sourceOf?: (group: string) => Queryable;
}

/** The options for the pipeline at these addresses (plus any name overrides: tests and the bench use their own). */
export function deriveOptions(e: Endpoints, names: NameOptions = {}): DeriveOptions {
  return { sink: { kafkaBrokers: e.kafkaBrokers, registryUrl: e.registryCcompatUrl, retention: e.retention, partitions: e.topicPartitions, ...(e.clickhouseCluster ? { cluster: e.clickhouseCluster } : {}) }, names: { groupPrefix: e.groupPrefix, ...names } };
}

export async function deriveTables(db: Queryable, decls: TableDeclaration[], opts: DeriveOptions): Promise<CapturedTable[]> {
  const out: CapturedTable[] = [];
  for (const declaration of decls) {
    const source = await introspectTable(opts.sourceOf?.(groupOf(declaration)) ?? db, declaration.source);
    checkColumnOptions(declaration, source);
    out.push({ declaration, source, objects: tableObjects(declaration, source, tableNames(declaration.source, opts.names), opts.sink) });
  }
  return out;
}

/**
 * Every captured table of the live catalog, with its state. A declared table that Postgres no
 * longer has is skipped with a warning rather than stopping every other table.
 */
export async function capturedTables(
  db: Queryable,
  opts: DeriveOptions,
  warn: (m: string) => void = console.warn,
): Promise<(CapturedTable & { state: TableState })[]> {
  const out: (CapturedTable & { state: TableState })[] = [];
  const entries = await catalogEntries(db);
  for (const e of entries.filter((x) => x.state === 'dropped')) warn(droppedLine(e.declaration.source, e.lastError));
  for (const e of entries.filter((x) => isCaptured(x.state))) {
    try {
      out.push(...(await deriveTables(db, [e.declaration], opts)).map((t) => ({ ...t, state: e.state })));
    } catch (err) {
      if (!(err instanceof SourceTableMissing)) throw err;
      warn(`warning: ${err.message}; ${e.declaration.source} is skipped (npm run catalog -- list)`);
    }
  }
  return out;
}

/** The tables whose ClickHouse objects applying the catalog keeps up (isFlowing); each other one is named, so setup and its dry run say the same. */
export function flowingTables<T extends { declaration: TableDeclaration; state: TableState }>(tables: T[], say: (m: string) => void): T[] {
  for (const t of tables) if (!isFlowing(t.state)) say(blockedLine(t.declaration.source));
  return tables.filter((t) => isFlowing(t.state));
}

/** The plan of the objects every table shares (kafka_errors' TTL). */
export const SHARED_PLAN = 'shared objects';

/** Plans for every table, then for the shared error stream(s) they write to (its TTL); drift is logged, never applied. */
export async function reconcileClickHouse(ch: ClickHouseClient, tables: CapturedTable[], log: (m: string) => void, dryRun = false): Promise<TablePlan[]> {
  const databases = [...new Set(tables.map((t) => t.objects.names.database))];
  const live = new Map([...(await Promise.all(databases.map((d) => liveTables(ch, d)))).flatMap((m) => [...m])]);
  const plans: TablePlan[] = [];
  for (const t of tables) {
    const plan = await planTable(ch, t.objects, live);
    plans.push(plan);
    if (dryRun) for (const a of plan.actions) log(`${plan.table}: would ${describeAction(a)}`);
    else await applyPlan(ch, plan, log);
  }
  // kafka_errors is a numbered migration's (shared by every table); only its TTL follows the settings.
  for (const [name, ttl] of new Map(tables.map((t) => [t.objects.errors.name, t.objects.errors.ttl]))) {
    if (!live.has(name)) continue;
    const plan: TablePlan = { table: SHARED_PLAN, actions: await ttlActions(ch, name, ttl, live.get(name)), cluster: tables[0]!.objects.cluster };
    plans.push(plan);
    if (dryRun) for (const a of plan.actions) log(`${plan.table}: would ${describeAction(a)}`);
    else await applyPlan(ch, plan, log);
  }
  // A queue no declared table derives keeps consuming its topic: say so, never drop it (its targets hold data).
  const wanted = new Set(tables.map((t) => t.objects.queue.name));
  for (const [name, t] of live) {
    if (t.engine === 'Kafka' && !wanted.has(name)) log(`note: ${name} belongs to no active table of the catalog; left as it is (drop it and its views by hand if it is no longer wanted)`);
  }
  return plans;
}

/** The connector of one group (default: the default group), with that group's tables. */
export function connectorConfig(tables: CapturedTable[], group?: string, base: ConnectorSpec = readConnectorFile(), source?: ConnectorSource): ConnectorSpec {
  return connectorFor(
    base,
    tables.map((t) => t.declaration),
    group,
    source,
  );
}

