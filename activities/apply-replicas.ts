/**
 * The catalog on the other ClickHouse hosts of a replica set (ch2, ...;
 * config/clickhouse-replicas.ts): on each, the numbered migrations (shared
 * objects) and every flowing table's objects, derived with that host's
 * consumer group prefix, so it consumes every topic in groups of its own,
 * then until its Kafka-engine consumers have their partitions. A new host's
 * groups have no committed offsets: its queues start at the earliest offset
 * Kafka still holds (catalog/consumer-settings.ts), which is all of it while
 * the topics' retention (KAFKA_TOPIC_RETENTION) has deleted nothing.
 *
 * A host that does not answer is skipped with a line saying so: the others
 * keep working, and `npm run setup` once it is back brings it level.
 */
import type { Endpoints } from '../config/load.ts';
import { replicaEndpoints, type ClickHouseReplica } from '../config/clickhouse-replicas.ts';
import { capturedTables, deriveOptions, flowingTables, reconcileClickHouse, SHARED_PLAN } from '../catalog/derive.ts';
import { createClickHouse, type ClickHouseClient } from '../connectors/clickhouse/client.ts';
import { ddlVars, migrateClickHouse } from '../connectors/clickhouse/migrate.ts';
import { replicaAnswers } from '../connectors/clickhouse/replicas.ts';
import type { Queryable } from '../connectors/postgres/pool.ts';

/** The replicas besides ch1 (whose objects the caller applies with its own client). */
export const otherReplicas = (e: Pick<Endpoints, 'clickhouseReplicas'>): ClickHouseReplica[] => e.clickhouseReplicas.slice(1);

/** Runs `work` with a client of each other replica that answers; says which did not. */
export async function onOtherReplicas(e: Pick<Endpoints, 'clickhouseReplicas'>, log: (m: string) => void, work: (ch: ClickHouseClient, r: ClickHouseReplica) => Promise<void>): Promise<void> {
  for (const r of otherReplicas(e)) {
    if (!(await replicaAnswers(r.url))) {
      log(`[${r.name}] ${r.url} does not answer: skipped (run npm run setup once it is back)`);
      continue;
    }
    const ch = createClickHouse(r.url, { requestTimeoutMs: 60_000 });
    try {
      await work(ch, r);
    } finally {
      await ch.close();
    }
  }
}

/** Shared objects and every flowing table's objects on each other replica; returns each one's queues (to wait for). */
export async function applyToReplicas(
  env: Endpoints,
  db: Queryable,
  log: (m: string) => void,
  waitForConsumers: (ch: ClickHouseClient, queues: string[], log: (m: string) => void) => Promise<void>,
): Promise<void> {
  await onOtherReplicas(env, log, async (ch, r) => {
    const say = (m: string) => log(`[${r.name}] ${m}`);
    const m = await migrateClickHouse(ch, { vars: ddlVars(), log: say, ...(env.clickhouseCluster ? { cluster: env.clickhouseCluster } : {}) });
    if (m.applied.length > 0) say(`migrations: ${m.applied.length} applied`);
    const tables = flowingTables(await capturedTables(db, deriveOptions(replicaEndpoints(env, r)), () => undefined), () => undefined);
    const plans = (await reconcileClickHouse(ch, tables, say)).filter((p) => p.table !== SHARED_PLAN);
    const changed = plans.filter((p) => p.actions.some((a) => a.kind !== 'drift')).length;
    say(`catalog objects: ${plans.length - changed} table(s) up to date, ${changed} changed (consumer groups ${r.groupPrefix}-<table>)`);
    await waitForConsumers(ch, tables.map((t) => t.objects.names.queue), say);
  });
}
