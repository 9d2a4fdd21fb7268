/**
 * One sample of the whole pipeline: what the metrics, the alerts and the page
 * are made of. Lag figures come from activities/lag-report.ts (slot, Kafka consumer,
 * newest LSN applied); the rest is read here from the pipeline's own tables
 * (change logs, astros.kafka_errors, ingest_runs, ingest_rejects,
 * validation_reports), Kafka Connect's REST API and Temporal's visibility.
 *
 * A component that does not answer is reported down, never thrown: the
 * sample then carries what the others said.
 */
import type { ReplicaSample } from './replicas.ts';
import type { Client as TemporalClient } from '@temporalio/client';
import type pg from 'pg';
import { chRows, type ClickHouseClient } from '../connectors/clickhouse/client.ts';
import { kafkaAnswers, type Kafka } from '../connectors/kafka/client.ts';
import { kafkaClusterHealth, type KafkaClusterHealth } from '../connectors/kafka/topics.ts';
import type { KafkaConnect } from '../connectors/kafka-connect/client.ts';
import type { SchemaRegistry } from '../connectors/registry/client.ts';
import { groupNames, pipelineNames, tableNames } from '../shared/names.ts';
import { catalogEntries, groupsOf, isCaptured, type TableState } from '../catalog/store.ts';
import type { Config } from '../config/load.ts';
import { readGaps, type CaptureGap } from '../connectors/clickhouse/capture-gaps.ts';
import { groupDatabaseSlots } from '../connectors/postgres/sources.ts';
import { lagReport, type LagReport } from '../activities/lag-report.ts';
import { newestComplete } from '../activities/backup/manifest.ts';
import { openStore } from '../connectors/object-store/open.ts';
import { INGEST_WORKFLOW_TYPE } from '../shared/workflows.ts';

/** Upper bounds (seconds) of the commit→visible latency histogram. */
export const latencyBuckets = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300];

export interface LatencyGroup {
  /** Average of the group (seconds): it lies in the group's bucket, and count × avg keeps the sum exact. */
  avg: number;
  count: number;
}

export interface TableSample {
  source: string;
  topic: string;
  /** ClickHouse current-state table. */
  current: string;
  /** Rows in the change log: every change ClickHouse applied. */
  changes: number;
  /** Messages of this table's topic in astros.kafka_errors. */
  deadLetters: number;
  /** Debezium's lag behind the source for the newest change: captured_ts − commit_ts (change log). */
  debeziumLagSeconds: number | null;
  /** commit → visible in ClickHouse (ingested_at − commit_ts) of the newest change. */
  newestLatencySeconds: number | null;
  /** Changes that became visible since the previous sample, grouped by histogram bucket (snapshot reads excluded). */
  latency: LatencyGroup[];
}

export interface ValidationRow {
  source: string;
  outcome: 'agree' | 'mismatch' | 'lag';
  finishedAt: string;
  differences: number;
  summary: string;
}

/** A table of the live catalog (removed ones left out): its state, and why it stopped when it did. */
export interface TableStateRow {
  source: string;
  state: TableState;
  /** blocked or dropped: the one-line reason (captured_tables.last_error). */
  reason: string | null;
  since: string;
}

/** States in which a captured table no longer reaches ClickHouse. */
export const stoppedStates: readonly TableState[] = ['blocked', 'dropped'];

/** The state of a connector Connect does not know. */
export const notRegistered = 'NOT REGISTERED';

/** worker: the Connect worker (host:port) running the connector or the task. */
export interface ConnectorSample {
  name: string;
  state: string;
  worker?: string;
  tasks: { id: number; state: string; worker?: string; trace?: string }[];
}

export interface Snapshot {
  at: number;
  /** With a ClickHouse replica set: each replica's state and consumer lag (monitor/replicas.ts); the rest of the sample is read from the one with `reads`. */
  replicas?: ReplicaSample[];
  /** Every table of the live catalog but the removed ones; empty when Postgres did not answer. */
  tableStates: TableStateRow[];
  components: Record<'postgres' | 'kafka' | 'connect' | 'registry' | 'clickhouse' | 'temporal', boolean>;
  lag: LagReport | undefined;
  /** Every logical replication slot of the database (the pipeline's, a bench's or test's connector's) and of each group's own source database: lost ones alert too. */
  slots: { slot: string; walStatus: string | null; active: boolean }[];
  /** The newest capture gaps recorded by recoverPipeline (astros.capture_gaps). */
  captureGaps: CaptureGap[];
  /** max_slot_wal_keep_size in bytes; null when unlimited (-1). */
  slotLimitBytes: number | null;
  tables: TableSample[];
  /** The default group's connector. */
  connector: ConnectorSample | undefined;
  /** Every table group's connector, the default group's first (undefined: Connect did not answer). */
  connectors?: ConnectorSample[];
  /** The brokers of KAFKA_BROKERS up or not, under-replicated and offline partitions; undefined when Kafka did not answer. */
  kafkaCluster?: KafkaClusterHealth;
  ingest: { runs: Record<string, number>; rejects: number; lastAppliedAt: string | null; consecutiveFailures: number | null; recentWorkflows: { status: string; closedAt: string | null; workflowId: string }[] };
  /** The latest report per captured (active) table. */
  validations: ValidationRow[];
  recentValidations: ValidationRow[];
  recentDeadLetters: { topic: string; error: string; receivedAt: string; message: string }[];
  recentRejects: { runKey: string; reason: string; rejectedAt: string; record: string }[];
  /** The newest complete backup in the target (undefined: the target did not answer; null: it holds none). */
  lastBackup?: { name: string; createdAt: string } | null;
}

export interface CollectDeps {
  cfg: Config;
  pool: pg.Pool;
  clickhouse: ClickHouseClient;
  kafka: Kafka;
  connect: KafkaConnect;
  registry: SchemaRegistry;
  temporal: () => Promise<TemporalClient>;
}

async function settle<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch {
    return undefined;
  }
}

const truncate = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** Per captured table: change count, dead letters, Debezium lag and the commit→visible latency of new changes. */
async function tableSamples(d: CollectDeps, sources: string[], since: Map<string, number>, until: number): Promise<TableSample[]> {
  const errors = new Map(
    (await chRows<{ topic: string; n: string }>(d.clickhouse, `SELECT topic, count() AS n FROM ${pipelineNames.clickhouseDatabase}.${pipelineNames.kafkaErrorsTable} GROUP BY topic`)).map((r) => [r.topic, Number(r.n)]),
  );
  const one = async (source: string): Promise<TableSample> => {
    const n = tableNames(source, { groupPrefix: d.cfg.groupPrefix });
    const [head] = await chRows<{ n: string; dbz: number | null; vis: number | null }>(
      d.clickhouse,
      `SELECT count() AS n,
              if(n = 0, NULL, argMax(dateDiff('millisecond', commit_ts, captured_ts), lsn) / 1000) AS dbz,
              if(n = 0, NULL, argMax(dateDiff('millisecond', commit_ts, ingested_at), lsn) / 1000) AS vis
         FROM ${n.changelog}`,
    );
    const from = since.get(source) ?? until;
    const groups = await chRows<{ n: string; s: number }>(
      d.clickhouse,
      `SELECT count() AS n, sum(l) AS s FROM (
         SELECT greatest(0, dateDiff('millisecond', commit_ts, ingested_at) / 1000) AS l
           FROM ${n.changelog}
          WHERE ingested_at > fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ingested_at <= fromUnixTimestamp64Milli({until:Int64}, 'UTC') AND op != 'r')
        GROUP BY arrayFirstIndex(x -> l <= x, {buckets:Array(Float64)})`,
      { from, until, buckets: latencyBuckets },
    );
    since.set(source, until);
    return {
      source,
      topic: n.topic,
      current: n.current,
      changes: Number(head?.n ?? 0),
      deadLetters: errors.get(n.topic) ?? 0,
      debeziumLagSeconds: head?.dbz ?? null,
      newestLatencySeconds: head?.vis ?? null,
      latency: groups.map((g) => ({ count: Number(g.n), avg: g.s / Number(g.n) })),
    };
  };
  // A table whose ClickHouse objects are not there yet (declared, setup not run) is left out, not the whole sample.
  const out: TableSample[] = [];
  for (const source of sources) {
    const t = await settle(one(source));
    if (t) out.push(t);
  }
  return out;
}

/** Each group's connector (one per table group: shared/names.ts groupNames), with the worker running it and each task. */
async function connectorStatuses(d: CollectDeps, groups: string[]): Promise<ConnectorSample[]> {
  const out: ConnectorSample[] = [];
  const worker = (w?: string) => (w ? { worker: w } : {});
  for (const group of groups) {
    const name = groupNames(group).connector;
    const s = await d.connect.status(name, 3_000);
    out.push(
      s
        ? {
            name,
            state: s.connector.state,
            ...worker(s.connector.worker_id),
            tasks: s.tasks.map((t) => ({ id: t.id, state: t.state, ...worker(t.worker_id), ...(t.trace ? { trace: truncate(t.trace, 500) } : {}) })),
          }
        : { name, state: notRegistered, tasks: [] },
    );
  }
  return out;
}

/** The latest closed ingestAstronauts runs (Temporal visibility) and how many of the newest failed in a row. */
async function ingestWorkflows(d: CollectDeps): Promise<Pick<Snapshot['ingest'], 'consecutiveFailures' | 'recentWorkflows'>> {
  const client = await d.temporal();
  const recent: Snapshot['ingest']['recentWorkflows'] = [];
  for await (const w of client.workflow.list({ query: `WorkflowType = '${INGEST_WORKFLOW_TYPE}' AND ExecutionStatus != 'Running'`, pageSize: 10 })) {
    recent.push({ status: w.status.name, closedAt: w.closeTime?.toISOString() ?? null, workflowId: w.workflowId });
    if (recent.length >= 10) break;
  }
  recent.sort((a, b) => (b.closedAt ?? '').localeCompare(a.closedAt ?? ''));
  // Failed or timed out; a cancelled or terminated run was stopped by someone and ends the streak.
  const streakEnd = recent.findIndex((w) => w.status !== 'FAILED' && w.status !== 'TIMED_OUT');
  return { consecutiveFailures: streakEnd === -1 ? recent.length : streakEnd, recentWorkflows: recent };
}

const validationSql = `select source_table as source, outcome, finished_at, missing + extra + different as differences, summary from validation_reports`;
const toValidation = (r: { source: string; outcome: ValidationRow['outcome']; finished_at: Date; differences: number; summary: string }): ValidationRow => ({
  source: r.source,
  outcome: r.outcome,
  finishedAt: r.finished_at.toISOString(),
  differences: Number(r.differences),
  summary: r.summary,
});

async function postgresFacts(d: CollectDeps) {
  const q = <T extends pg.QueryResultRow>(sql: string) => d.pool.query<T>(sql).then((r) => r.rows);
  const [limit, runs, rejects, latest, recent, recentRejects, slots] = await Promise.all([
    q<{ bytes: string | null }>(`select case when setting::bigint < 0 then null else setting::bigint * 1024 * 1024 end::text as bytes from pg_settings where name = 'max_slot_wal_keep_size'`),
    q<{ status: string; n: string; last: Date | null }>(`select status, count(*)::text as n, max(applied_at) as last from ingest_runs group by status`),
    q<{ n: string }>(`select count(*)::text as n from ingest_rejects`),
    q<Parameters<typeof toValidation>[0]>(`select distinct on (source) * from (${validationSql}) v order by source, finished_at desc`),
    q<Parameters<typeof toValidation>[0]>(`${validationSql} order by finished_at desc limit 8`),
    q<{ run_key: string; reason: string; rejected_at: Date; record: string }>(
      `select run_key, reason, rejected_at, coalesce(record::text, raw_text) as record from ingest_rejects order by reject_id desc limit 8`,
    ),
    q<{ slot_name: string; wal_status: string | null; active: boolean }>(
      `select slot_name, wal_status, active from pg_replication_slots where slot_type = 'logical' and database = current_database() order by slot_name`,
    ),
  ]);
  // A group reading its own database (on this server or another) has its slot there: read through its connection.
  const elsewhere = await groupDatabaseSlots(d.cfg, slots.map((r) => r.slot_name));
  return {
    slotLimitBytes: limit[0]?.bytes ? Number(limit[0].bytes) : null,
    slots: [...slots.map((r) => ({ slot: r.slot_name, walStatus: r.wal_status, active: r.active })), ...elsewhere.map((r) => ({ slot: r.slot, walStatus: r.walStatus, active: r.active }))],
    runs: Object.fromEntries(runs.map((r) => [r.status, Number(r.n)])),
    lastAppliedAt: runs.find((r) => r.status === 'applied')?.last?.toISOString() ?? null,
    rejects: Number(rejects[0]?.n ?? 0),
    validations: latest.map(toValidation),
    recentValidations: recent.map(toValidation),
    recentRejects: recentRejects.map((r) => ({ runKey: r.run_key, reason: r.reason, rejectedAt: r.rejected_at.toISOString(), record: truncate(r.record) })),
  };
}

/**
 * One sample. `since` holds, per table, the ingested_at (ms) up to which
 * latency was already observed; it is advanced to `until` (now − 2 s, so
 * blocks still being written are counted next time).
 */
export async function collect(d: CollectDeps, since: Map<string, number>): Promise<Snapshot> {
  const at = Date.now();
  const until = at - 2_000;
  const e = d.cfg;
  const entries = await settle(catalogEntries(d.pool));
  const sources = entries?.filter((x) => isCaptured(x.state)).map((x) => x.declaration.source);
  const tableStates = (entries ?? [])
    .filter((x) => x.state !== 'removed')
    .map((x) => ({ source: x.declaration.source, state: x.state, reason: stoppedStates.includes(x.state) ? (x.lastError ?? null) : null, since: x.updatedAt }));
  const lastBackup = settle(Promise.resolve().then(() => newestComplete(openStore(e.backup.target, e.backup))).then((m) => (m ? { name: m.name, createdAt: m.createdAt } : null)));
  const [lag, pgFacts, tables, connectors, workflows, registryUp, clickhouseUp, kafkaUp, recentDeadLetters, gaps, kafkaCluster] = await Promise.all([
    settle(lagReport({ db: d.pool, kafka: d.kafka, clickhouse: d.clickhouse }, { groupPrefix: e.groupPrefix, groupDatabases: e.groupDatabases, ...(e.clickhouseCluster ? { clickhouseCluster: e.clickhouseCluster } : {}) })),
    settle(postgresFacts(d)),
    settle(tableSamples(d, sources ?? [], since, until)),
    settle(connectorStatuses(d, [...groupsOf((entries ?? []).filter((x) => isCaptured(x.state)))].map(([g]) => g))),
    settle(ingestWorkflows(d)),
    d.registry.answers(),
    d.clickhouse.ping({ select: false, abort_signal: AbortSignal.timeout(3_000) }).then((r) => r.success, () => false),
    kafkaAnswers(e.kafkaBrokers),
    settle(
      chRows<{ topic: string; error: string; received_at: string; raw_message: string }>(
        d.clickhouse,
        `SELECT topic, error, toString(received_at) AS received_at, substring(raw_message, 1, 300) AS raw_message FROM ${pipelineNames.clickhouseDatabase}.${pipelineNames.kafkaErrorsTable} ORDER BY received_at DESC LIMIT 8`,
      ),
    ),
    settle(readGaps(d.clickhouse)),
    settle(kafkaClusterHealth(d.kafka, e.kafkaBrokers)),
  ]);
  return {
    at,
    tableStates,
    components: {
      postgres: sources !== undefined && pgFacts !== undefined,
      kafka: kafkaUp,
      connect: connectors !== undefined,
      registry: registryUp,
      clickhouse: clickhouseUp,
      temporal: workflows !== undefined,
    },
    lag,
    slots: pgFacts?.slots ?? [],
    captureGaps: (gaps ?? []).slice(0, 20),
    slotLimitBytes: pgFacts?.slotLimitBytes ?? null,
    tables: tables ?? [],
    connector: connectors?.[0],
    ...(connectors ? { connectors } : {}),
    ...(kafkaCluster ? { kafkaCluster } : {}),
    ingest: {
      runs: pgFacts?.runs ?? {},
      rejects: pgFacts?.rejects ?? 0,
      lastAppliedAt: pgFacts?.lastAppliedAt ?? null,
      consecutiveFailures: workflows?.consecutiveFailures ?? null,
      recentWorkflows: workflows?.recentWorkflows ?? [],
    },
    // Only tables the pipeline still captures: a dropped table's last mismatch must not keep an alert open.
    validations: (pgFacts?.validations ?? []).filter((v) => sources?.includes(v.source) ?? true),
    recentValidations: pgFacts?.recentValidations ?? [],
    recentDeadLetters: (recentDeadLetters ?? []).map((r) => ({ topic: r.topic, error: truncate(r.error), receivedAt: `${r.received_at}Z`, message: truncate(r.raw_message) })),
    recentRejects: pgFacts?.recentRejects ?? [],
    lastBackup: await lastBackup,
  };
}
