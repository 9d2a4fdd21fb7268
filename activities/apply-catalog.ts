/**
 * Applying the live catalog to a running stack, for its captured tables as
 * they are now: publication membership, replica identity and grants (planned
 * by catalog/publication.ts), the topics, every table's ClickHouse objects
 * (reconciled), the connector registered with the table list, then until the
 * tables' Kafka-engine consumers have their partitions. What `npm run setup`
 * does after its migrations (activities/setup.ts), and what `astros tables
 * add|remove` runs after changing the catalog (activity applyCatalogToStack).
 * Registering the connector with a changed table list restarts its task: the
 * only pause the other tables see.
 *
 * Per table group (shared/names.ts groupNames): its publication, its connector
 * with its tables; a group of another connector restarts nothing here. A group
 * whose last table went is retired (activities/retire-group.ts).
 *
 * With more ClickHouse hosts (CLICKHOUSE_REPLICA_URLS), each gets the same
 * objects with its own consumer groups (activities/apply-replicas.ts).
 */
import { groupSourceOf, type Endpoints } from '../config/load.ts';
import { groupSource, listSourceTables, prepareSourceDatabase, recordGroupsElsewhere } from '../connectors/postgres/sources.ts';
import { capturedTables, connectorConfig, deriveOptions, flowingTables, reconcileClickHouse, SHARED_PLAN, type CapturedTable } from '../catalog/derive.ts';
import { planPublication, TRUNCATE_GUARD } from '../catalog/publication.ts';
import { chRows, type ClickHouseClient } from '../connectors/clickhouse/client.ts';
import type { Kafka } from '../connectors/kafka/client.ts';
import { ensureTopics, type TopicSpec } from '../connectors/kafka/topics.ts';
import type { KafkaConnect } from '../connectors/kafka-connect/client.ts';
import type { Queryable } from '../connectors/postgres/pool.ts';
import { readPublicationState, runStatements } from '../connectors/postgres/publication.ts';
import { groupsOf } from '../catalog/store.ts';
import { groupNames, pipelineNames } from '../shared/names.ts';
import { liveGroups, retireGroup } from './retire-group.ts';
import { applyToReplicas } from './apply-replicas.ts';

export interface StackClients {
  db: Queryable;
  clickhouse: ClickHouseClient;
  kafka: Kafka;
  connect: KafkaConnect;
}

/** Each captured table's topic with its retention and partitions (the table's own, else the pipeline's). */
export function topicSpecs(tables: CapturedTable[]): TopicSpec[] {
  return tables.map((t) => ({ topic: t.objects.names.topic, retentionMs: t.objects.retention.topicMs, partitions: t.objects.partitions }));
}

/** Each group's publication, replica identity, TRUNCATE guards and grants as the catalog plans them, in the group's source database. */
export async function syncPublication(env: Pick<Endpoints, 'databaseUrl' | 'groupDatabases'>, db: Queryable, tables: CapturedTable[], log: (m: string) => void): Promise<void> {
  for (const [group, mine] of groupsOf(tables)) {
    const g = groupNames(group);
    const sources = mine.map((t) => t.source);
    await prepareSourceDatabase(env, group, log);
    const own = groupSource(env, group, db);
    const state = await readPublicationState(own, g.publication, sources.map((s) => s.source), pipelineNames.cdcRole, TRUNCATE_GUARD);
    await runStatements(own, planPublication(state, sources, g), log);
    if (env.groupDatabases[group] !== undefined) await listSourceTables(own, group, sources.map((s) => s.source));
  }
}

/** Until the captured tables' Kafka-engine consumers have their partitions (bounded). */
async function waitForConsumers(ch: ClickHouseClient, queues: string[], log: (m: string) => void, timeoutMs = 150_000): Promise<void> {
  const started = Date.now();
  let said = false;
  for (;;) {
    const rows = await chRows<{ name: string; assigned: string }>(
      ch,
      `SELECT t.database || '.' || t.name AS name, countIf(length(c.assignments.topic) > 0) AS assigned
         FROM system.tables AS t LEFT JOIN system.kafka_consumers AS c ON c.database = t.database AND c.table = t.name
        WHERE t.engine = 'Kafka' AND (t.database || '.' || t.name) IN {queues:Array(String)} GROUP BY name`,
      { queues },
    );
    const waiting = rows.filter((r) => Number(r.assigned) === 0).map((r) => r.name);
    if (waiting.length === 0) {
      if (said) log(`[clickhouse] Kafka consumers assigned after ${((Date.now() - started) / 1000).toFixed(0)} s`);
      return;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`ClickHouse Kafka consumers of ${waiting.join(', ')} got no partitions within ${timeoutMs / 1000} s (see system.kafka_consumers.exceptions)`);
    }
    if (!said) {
      log(`[clickhouse] waiting for the Kafka consumers of ${waiting.join(', ')} to join their groups (a recreated consumer waits for its predecessor's session to expire, about 6 s)`);
      said = true;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Applies it; returns what it said of the groups it retired (or kept, with the reason). */
export async function applyCatalog(env: Endpoints, c: StackClients, log: (m: string) => void): Promise<string[]> {
  const tables = await capturedTables(c.db, { ...deriveOptions(env), sourceOf: (group) => groupSource(env, group, c.db) }, (m) => log(`[catalog] ${m}`));
  log(`[catalog] capturing ${tables.map((t) => t.declaration.source).join(', ')}`);
  const flowing = flowingTables(tables, (m) => log(`[catalog] ${m}`));
  await recordGroupsElsewhere(c.db, env);
  await syncPublication(env, c.db, tables, (m) => log(`[postgres] ${m}`));
  await ensureTopics(c.kafka, topicSpecs(tables), log);
  const plans = (await reconcileClickHouse(c.clickhouse, flowing, (m) => log(`[clickhouse] ${m}`))).filter((p) => p.table !== SHARED_PLAN);
  const changed = plans.filter((p) => p.actions.some((a) => a.kind !== 'drift')).length;
  log(`[clickhouse] catalog objects: ${plans.length - changed} table(s) up to date, ${changed} changed`);
  const groups = groupsOf(tables);
  for (const [group, mine] of groups) await c.connect.register(connectorConfig(mine, group, undefined, groupSourceOf(env, group)), { log: (m) => log(`[connector] ${m}`) });
  const said: string[] = [];
  const say = (m: string) => {
    said.push(m);
    log(`[group] ${m}`);
  };
  for (const group of await liveGroups(c.db, c.connect)) if (!groups.has(group)) await retireGroup(groupSource(env, group, c.db), c.connect, group, say);
  await waitForConsumers(
    c.clickhouse,
    flowing.map((t) => t.objects.names.queue),
    log,
  );
  await applyToReplicas(env, c.db, log, waitForConsumers);
  return said;
}
