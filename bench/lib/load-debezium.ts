/**
 * Debezium's own initial snapshot in the load scenario: a connector of its
 * own, `bench-snapshot` (the production connector with the table list the
 * catalog derives for public.bench_load, its own slot, publication and topic
 * prefix, and `snapshot.mode=initial`), into Kafka as Avro, consumed by the
 * catalog-derived queue and views of that table in ClickHouse database
 * `bench_snapshot`. Timed from the connector's registration until the current
 * state (`bench_snapshot.bench_load`) counts N rows.
 *
 * Each run starts cold and leaves nothing behind: before and after it the
 * connector is stopped, its committed offsets deleted (a connector of the
 * same name would otherwise resume after its snapshot) and the connector
 * deleted; then the ClickHouse database, the slot, the publication, the
 * consumer group and the topic go.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Admin } from 'kafkajs';
import type pg from 'pg';
import { KafkaConnect } from '../../connectors/kafka-connect/client.ts';
import { kafkaClient } from '../../connectors/kafka/client.ts';
import { connectorFor, readConnectorFile, type ConnectorSpec } from '../../catalog/connector.ts';
import { tableNames } from '../../shared/names.ts';
import { deriveTables, reconcileClickHouse } from '../../catalog/derive.ts';
import { ensureTopics } from '../../connectors/kafka/topics.ts';
import type { BenchEnv } from './env.ts';
import { finalCount, measured, sleep, waitForCount, type LoadRun } from './load-result.ts';
import { benchLoadTable, ensureSharedObjects, type Tuning } from './objects.ts';

const snapshot = {
  connector: 'bench-snapshot',
  slot: 'bench_snapshot',
  publication: 'bench_snapshot_publication',
  nameOptions: { database: 'bench_snapshot', topicPrefix: 'bench_snapshot', groupPrefix: 'astros-snapshot' },
};

export const snapshotNames = tableNames(benchLoadTable.source, snapshot.nameOptions);
/** The table's topic and the connector's heartbeat topic (created by the broker on the first heartbeat). */
const snapshotTopics = [snapshotNames.topic, `${readConnectorFile().config['topic.heartbeat.prefix'] ?? '__debezium-heartbeat'}.${snapshot.nameOptions.topicPrefix}`];

/** The production connector for bench_load with its own identity, snapshotting first; tuning knobs on top. */
export function snapshotConnector(knobs: Record<string, string> = {}): ConnectorSpec {
  const { config } = connectorFor(readConnectorFile(), [benchLoadTable]);
  const merged: Record<string, string> = {
    ...config,
    'slot.name': snapshot.slot,
    'publication.name': snapshot.publication,
    'topic.prefix': snapshot.nameOptions.topicPrefix,
    'snapshot.mode': 'initial',
    // That row belongs to the main connector (`npm run lag` reads it).
    'heartbeat.action.query': '',
    ...knobs,
  };
  return { name: snapshot.connector, config: Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== '')) };
}

export interface DebeziumLoadDeps {
  pool: pg.Pool;
  ch: ClickHouseClient;
  admin: Admin;
  pidDir: string;
}

export async function debeziumLoad(d: DebeziumLoadDeps, env: BenchEnv, tuning: Tuning, rows: number, timeoutMs: number, log: (m: string) => void): Promise<LoadRun> {
  await dropSnapshotObjects(d, env);
  try {
    await d.pool.query(`create publication ${snapshot.publication} for table ${benchLoadTable.source} with (publish = 'insert, update, delete')`);
    const sink = { kafkaBrokers: env.kafkaBrokers, registryUrl: env.registryCcompatUrl, overrides: tuning.consumer, retention: env.retention };
    const ts = await deriveTables(d.pool, [benchLoadTable], { sink, names: snapshot.nameOptions });
    await ensureTopics(kafkaClient(env.kafkaBrokers, 'astros-bench'), [{ topic: snapshotNames.topic, retentionMs: ts[0]!.objects.retention.topicMs }], () => undefined);
    await ensureSharedObjects(d.ch, snapshotNames.database);
    await reconcileClickHouse(d.ch, ts, () => undefined);
    const spec = snapshotConnector(tuning.connector);
    const start = Date.now();
    const { value: done, memory, chTracked } = await measured(d, { absolute: ['connect'], growth: ['clickhouse'] }, async () => {
      await new KafkaConnect(env.connectUrl).putConfig(spec.name, spec.config);
      return waitForCount(d.ch, snapshotNames.current, rows, {
        timeoutMs,
        check: async () => {
          const state = await new KafkaConnect(env.connectUrl).connectorState(spec.name).catch(() => 'UNKNOWN');
          if (state === 'FAILED') throw new Error(`connector ${spec.name} FAILED (GET ${env.connectUrl}/connectors/${spec.name}/status)`);
        },
      });
    });
    const elapsedMs = done - start;
    log(`  snapshot connector: ${rows} rows in ${snapshotNames.current} after ${elapsedMs} ms`);
    return {
      rows,
      elapsedMs,
      rowsPerSec: rows / (elapsedMs / 1000),
      memory,
      chTracked,
      stateOk: (await finalCount(d.ch, snapshotNames.current)) === rows,
      detail: {},
    };
  } finally {
    await dropSnapshotObjects(d, env);
  }
}

/** Everything the snapshot contender creates, gone (idempotent; also clears what an interrupted run left). */
export async function dropSnapshotObjects(d: Pick<DebeziumLoadDeps, 'pool' | 'ch' | 'admin'>, env: BenchEnv): Promise<void> {
  const name = snapshot.connector;
  const connect = new KafkaConnect(env.connectUrl);
  if ((await connect.connectorState(name).catch(() => undefined)) !== undefined) {
    await connect.stop(name);
    await until(async () => (await connect.connectorState(name)) === 'STOPPED', 60_000, `connector ${name} STOPPED`);
    await connect.resetOffsets(name);
    await connect.remove(name);
  }
  await d.ch.command({ query: `DROP DATABASE IF EXISTS ${snapshotNames.database} SYNC` });
  await until(async () => {
    const r = await d.pool.query<{ active: boolean }>('select active from pg_replication_slots where slot_name = $1', [snapshot.slot]);
    if (r.rows[0]?.active === false) await d.pool.query('select pg_drop_replication_slot($1)', [snapshot.slot]);
    return r.rows.length === 0 || r.rows[0]?.active === false;
  }, 60_000, `slot ${snapshot.slot} released`);
  await d.pool.query(`drop publication if exists ${snapshot.publication}`);
  // The queue's consumer leaves the group when its table is dropped; the broker may take a moment to see it.
  await until(async () => {
    const groups = (await d.admin.listGroups()).groups.map((g) => g.groupId);
    if (!groups.includes(snapshotNames.group)) return true;
    return d.admin.deleteGroups([snapshotNames.group]).then(() => true, () => false);
  }, 60_000, `consumer group ${snapshotNames.group} deleted`);
  await until(async () => {
    const topics = new Set(await d.admin.listTopics());
    const left = snapshotTopics.filter((t) => topics.has(t));
    if (left.length === 0) return true;
    await d.admin.deleteTopics({ topics: left }).catch(() => undefined);
    return false;
  }, 60_000, `topics ${snapshotTopics.join(', ')} deleted`);
}

async function until(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}
