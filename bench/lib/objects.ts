/**
 * The benchmark's own objects, created at run time and idempotently beside the
 * main pipeline's, which stay untouched:
 *
 *   Postgres   public.bench_cdc   captured by our pipeline (publication bench_publication)
 *              public.bench_cdc_full  the same with REPLICA IDENTITY FULL (the bulk update scenario)
 *              public.bench_base  same shape, same workload, read by the baselines
 *                                 (pg_recvlogical ceiling, MaterializedPostgreSQL peer)
 *              public.bench_load  the load scenario's N rows (bench/lib/load-table.ts fills
 *                                 it); captured like bench_cdc, so resync accepts it
 *   Connect    bench-postgres     the production connector (debezium/astros-postgres.json)
 *                                 with its own name, slot, publication and topic prefix
 *   ClickHouse bench.bench_cdc_queue -> bench.bench_cdc_changelog, bench.bench_cdc (current
 *              state), bench.kafka_errors: derived by the catalog from bench_cdc's declaration
 *              and reconciled like a production table's (npm run setup); bench_cdc_full's
 *              and bench_load's alike
 *
 * Without tuning flags the bench measures what ships: every connector setting
 * comes from the production file, every Kafka-engine setting from
 * catalog/consumer-settings.ts. A flag overrides one setting; a changed
 * Kafka-engine setting recreates the queue with the same consumer group.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type pg from 'pg';
import { connectorFor, readConnectorFile, type ConnectorSpec } from '../../catalog/connector.ts';
import type { ConsumerOverrides } from '../../catalog/consumer-settings.ts';
import { parseDeclarations, type TableDeclaration } from '../../catalog/declaration.ts';
import { tableNames, type TableNames } from '../../shared/names.ts';
import { deriveTables, reconcileClickHouse, type CapturedTable } from '../../catalog/derive.ts';
import { liveTables } from '../../catalog/reconcile.ts';
import { ddlVars, listMigrations, render, statements } from '../../connectors/clickhouse/migrate.ts';
import { ensureTopics } from '../../connectors/kafka/topics.ts';
import { kafkaClient } from '../../connectors/kafka/client.ts';
import { KafkaConnect } from '../../connectors/kafka-connect/client.ts';
import type { BenchEnv } from './env.ts';

/** Declared like production tables, but here rather than in catalog/tables.ts: only the bench captures them. */
export const [benchTable, benchFullTable, benchLoadTable] = parseDeclarations(
  [
    { source: 'public.bench_cdc', description: 'The benchmark workload (bench/lib/workload.ts); truncated before each run. Replica identity: the primary key.' },
    { source: 'public.bench_cdc_full', description: 'The bulk update scenario with REPLICA IDENTITY FULL (every update carries the old row).' },
    { source: 'public.bench_load', description: 'The load scenario: N rows loaded into ClickHouse three ways (bench/lib/load.ts); filled by the bench, not streamed.' },
  ],
  'bench/lib/objects.ts',
) as [TableDeclaration, TableDeclaration, TableDeclaration];

/** Every table the bench connector captures. */
const benchTables = [benchTable, benchFullTable, benchLoadTable];

export const nameOptions = {
  database: 'bench',
  topicPrefix: 'bench',
  // Group astros-bench-cdc, as the bench's objects had before the catalog: its committed offsets stay.
  groupPrefix: 'astros',
};

/** The names of bench_cdc_full's objects (topic, group, ClickHouse tables). */
export const fullNames: TableNames = tableNames(benchFullTable.source, nameOptions);
/** The names of bench_load's objects (resync's live copy: bench.bench_load). */
export const loadNames: TableNames = tableNames(benchLoadTable.source, nameOptions);

/**
 * The load scenario's table: bench_cdc's types (bigint key, integer, text,
 * timestamptz) and the other common ones (numeric, smallint, boolean, date),
 * some nullable; about 150 bytes a row.
 */
export const loadTableDdl = `create table if not exists public.${loadNames.table} (
  id bigint primary key, account_id integer not null, status text not null, amount numeric(12,2) not null,
  quantity smallint not null, paid boolean not null, payload text not null, note text,
  created_at timestamptz not null, updated_at timestamptz not null, ship_date date)`;

export const names = {
  ...tableNames(benchTable.source, nameOptions),
  baseTable: 'bench_base',
  publication: 'bench_publication',
  slot: 'bench_debezium',
  connector: 'bench-postgres',
};

/** Single settings over what ships (empty objects = what ships). */
export interface Tuning {
  /** Debezium connector settings; an empty value removes the key. */
  connector: Record<string, string>;
  /** ClickHouse Kafka-engine settings, named as in catalog/consumer-settings.ts. */
  consumer: ConsumerOverrides;
}

/** What the bench connector changes in the production connector besides the table list (the catalog derives that). */
const connectorIdentity: Record<string, string> = {
  'slot.name': names.slot,
  'publication.name': names.publication,
  'topic.prefix': nameOptions.topicPrefix,
  // The workload starts from an empty table: nothing to snapshot.
  'snapshot.mode': 'no_data',
  // It writes the main connector's heartbeat row, which `npm run lag` reports as the main connector's.
  'heartbeat.action.query': '',
};

export function benchConnector(knobs: Record<string, string> = {}): ConnectorSpec {
  const { config } = connectorFor(readConnectorFile(), benchTables);
  const merged = { ...config, ...connectorIdentity, ...knobs };
  return { name: names.connector, config: Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== '')) };
}

export async function ensurePostgres(pool: pg.Pool): Promise<void> {
  for (const t of [names.table, fullNames.table, names.baseTable]) {
    await pool.query(`create table if not exists public.${t} (
      id bigint primary key, v integer not null, payload text not null, updated_at timestamptz not null default now())`);
  }
  await pool.query(loadTableDdl);
  await pool.query(`alter table public.${fullNames.table} replica identity full`);
  await pool.query(`do $$ begin
    if not exists (select 1 from pg_publication where pubname = '${names.publication}') then
      create publication ${names.publication} for table public.${names.table} with (publish = 'insert, update, delete');
    end if;
    if exists (select 1 from pg_roles where rolname = 'astros_cdc') then
      grant select on public.${names.table}, public.${fullNames.table}, public.${loadNames.table} to astros_cdc;
    end if;
  end $$`);
  for (const t of [fullNames.table, loadNames.table]) await addToPublication(pool, t);
}

/** Add a bench table to the bench publication (idempotent). */
export async function addToPublication(pool: pg.Pool, table: string): Promise<void> {
  await pool.query(`do $$ begin
    if not exists (select 1 from pg_publication_tables where pubname = '${names.publication}' and schemaname = 'public' and tablename = '${table}') then
      alter publication ${names.publication} add table public.${table};
    end if;
  end $$`);
}

/**
 * Drop what neither the catalog nor the shared migrations create in the bench database (the
 * hand-written objects of earlier versions; their queue would share the
 * group), and, when a derived table's shape drifted, every object but the
 * shared ones: the bench's data is disposable, and reconcile never retypes.
 */
async function dropUnderived(ch: ClickHouseClient, ts: CapturedTable[], shared: Set<string>, log: (m: string) => void): Promise<void> {
  const derived = new Set(ts.flatMap(({ objects: o }) => [o.changelog, o.changes, o.current, o.changesView, o.queue, ...o.views].map((x) => x.name)));
  const dry = await reconcileClickHouse(ch, ts, () => undefined, true);
  const drifted = dry.some((p) => p.actions.some((a) => a.kind === 'drift'));
  const rank = (engine: string) => (engine === 'MaterializedView' ? 0 : engine === 'Kafka' ? 1 : 2);
  const drop = [...(await liveTables(ch, names.database)).values()]
    .filter((l) => !shared.has(l.name) && (drifted || !derived.has(l.name)))
    .sort((a, b) => rank(a.engine) - rank(b.engine));
  for (const l of drop) {
    log(`[clickhouse] ${l.name}: dropped (${drifted ? 'the derived shape changed' : 'not derived by the catalog'})`);
    await ch.command({ query: `DROP ${l.engine === 'MaterializedView' ? 'VIEW' : 'TABLE'} IF EXISTS ${l.name}` });
  }
}

export interface OursApplied {
  /** the queue and its views were (re)created: a new consumer needs a warm-up */
  recreated: boolean;
  connector: ConnectorSpec;
  /** the queue's Kafka-engine settings as applied */
  consumer: Record<string, string | number>;
}

/**
 * Our pipeline for the bench tables: the topics, the ClickHouse objects from
 * the catalog (shared ones from the numbered migrations, rendered for the
 * bench database and not recorded: they are idempotent), and the connector,
 * then a wait until its slot exists (the connector says RUNNING before its
 * task has created the slot, and with snapshot.mode=no_data a change
 * committed before that is never captured).
 * Postgres must be ready (ensurePostgres): the catalog reads the tables' columns.
 */
export async function ensureOurs(d: { pool: pg.Pool; ch: ClickHouseClient }, env: BenchEnv, tuning: Tuning, log: (m: string) => void): Promise<OursApplied> {
  const sink = { kafkaBrokers: env.kafkaBrokers, registryUrl: env.registryCcompatUrl, overrides: tuning.consumer, retention: env.retention };
  const ts = await deriveTables(d.pool, benchTables, { sink, names: nameOptions });
  await ensureTopics(kafkaClient(env.kafkaBrokers, 'astros-bench'), ts.map((t) => ({ topic: t.objects.names.topic, retentionMs: t.objects.retention.topicMs, partitions: t.objects.partitions })), log);
  const shared = await ensureSharedObjects(d.ch, names.database);
  await dropUnderived(d.ch, ts, shared, log);
  const plans = await reconcileClickHouse(d.ch, ts, (m) => log(`[clickhouse] ${m}`));
  const connector = benchConnector(tuning.connector);
  await new KafkaConnect(env.connectUrl).register(connector, { log: (m) => log(`[connector] ${m}`) });
  await waitForSlot(d.pool, log);
  return {
    recreated: plans.some((p) => p.actions.some((a) => a.kind === 'create-consumer' || a.kind === 'recreate-consumer')),
    connector,
    consumer: Object.fromEntries(ts[0]!.objects.queue.settings.filter(([k]) => !['kafka_broker_list', 'format_avro_schema_registry_url'].includes(k))),
  };
}

/**
 * The objects every table of a ClickHouse database shares (kafka_errors), from
 * the numbered migrations rendered for that database; not recorded (they are
 * idempotent). Returns the tables they create.
 */
export async function ensureSharedObjects(ch: ClickHouseClient, database: string): Promise<Set<string>> {
  const vars = ddlVars({ clickhouseDatabase: database });
  const shared = new Set<string>();
  for (const file of listMigrations()) {
    for (const query of statements(render(file, vars))) {
      await ch.command({ query });
      const created = /^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\S+)/i.exec(query)?.[1];
      if (created !== undefined) shared.add(created);
    }
  }
  return shared;
}

async function waitForSlot(pool: pg.Pool, log: (m: string) => void, timeoutMs = 120_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const r = await pool.query<{ active: boolean }>('select active from pg_replication_slots where slot_name = $1', [names.slot]);
    if (r.rows[0]?.active === true) return;
    if (Date.now() - start > timeoutMs) throw new Error(`replication slot ${names.slot} not ${r.rows[0] ? 'active' : 'created'} ${timeoutMs} ms after the connector started`);
    if (Date.now() - start > 2_000 && Date.now() - start < 2_600) log(`[postgres] waiting for the connector's slot ${names.slot}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}
