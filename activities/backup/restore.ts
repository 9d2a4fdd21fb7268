/**
 * Restoring ClickHouse after its data was lost, without a gap or a duplicate:
 *
 *  1. restoreClickHouse: the backup's tables come back (the change log's
 *     history from before the backup with them); no queue exists yet, so
 *     nothing consumes.
 *  2. rewindGroups: each table's consumer group is set to the offsets stored
 *     with the backup, so everything after it is read again (what overlaps
 *     collapses on the LSN). Kafka refuses a reset while the group has
 *     members: a killed host's consumer stays a member until its 6 s session
 *     expires (catalog/consumer-settings.ts), so the reset is retried until
 *     the group is empty. Where the topic no longer holds a stored offset
 *     (retention), or a table was captured after the backup, the table is
 *     named for a resync.
 *  3. createConsumers: the catalog's queues and views, as setup creates them.
 */
import { capturedTables, deriveOptions, flowingTables, reconcileClickHouse } from '../../catalog/derive.ts';
import { restoreStatement, runAsync } from '../../connectors/clickhouse/backup.ts';
import { chRows as rows, type ClickHouseClient } from '../../connectors/clickhouse/client.ts';
import { ddlVars, migrateClickHouse } from '../../connectors/clickhouse/migrate.ts';
import { withAdmin } from '../../connectors/kafka/client.ts';
import type { ObjectStore } from '../../connectors/object-store/store.ts';
import type { BackupDeps } from './deps.ts';
import type { Manifest } from './manifest.ts';
import { schemaDifferences } from './position.ts';

export type RestoreDeps = BackupDeps & { say: (step: string) => void };

export interface Rewound {
  source: string;
  group: string;
  /** Messages the group reads again, over its partitions. */
  replayed: number;
  /** Why the table needs a resync (absent: the rewind is enough). */
  resync?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Tables already in the pipeline's databases (a fresh host has none). */
export async function existingTables(ch: ClickHouseClient, databases: string[]): Promise<string[]> {
  return (await rows<{ t: string }>(ch, `SELECT database || '.' || name AS t FROM system.tables WHERE database IN {dbs:Array(String)} ORDER BY t`, { dbs: databases })).map((r) => r.t);
}

/** Step 1. Refuses a host that has the pipeline's tables, unless told to replace them. */
export async function restoreClickHouse(d: RestoreDeps, store: ObjectStore, m: Manifest, replace: boolean): Promise<{ tables: number; files: number; bytes: number }> {
  const ch = d.clickhouse;
  const present = await existingTables(ch, m.clickhouse.databases);
  if (present.length > 0 && !replace) {
    throw new Error(
      `ClickHouse already has ${present.length} table(s) in ${m.clickhouse.databases.join(', ')} (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''}); ` +
        'restore onto a host that lost them, or pass --replace to drop them first',
    );
  }
  for (const db of m.clickhouse.databases) await ch.command({ query: `DROP DATABASE IF EXISTS ${db} SYNC` });
  const p = await runAsync(ch, restoreStatement(m.clickhouse.databases, store.clickhouseDestination(`${m.name}/clickhouse`)), (x) => d.say(`restoring ${m.name}: ${x.files} files, ${(x.bytes / 1024 / 1024).toFixed(1)} MB`));
  return { tables: (await existingTables(ch, m.clickhouse.databases)).length, files: p.files, bytes: p.bytes };
}

function emptyGroupError(err: unknown): boolean {
  const e = err as { type?: string; message?: string };
  return e.type === 'NON_EMPTY_GROUP' || /must be empty|NON_EMPTY_GROUP|rebalanc/i.test(e.message ?? '');
}

/** Step 2. */
export async function rewindGroups(d: RestoreDeps, m: Manifest, timeoutMs = 120_000): Promise<Rewound[]> {
  const captured = await capturedTables(d.pool, deriveOptions(d.endpoints), () => undefined);
  return withAdmin(d.kafka, async (admin) => {
    const out: Rewound[] = [];
    for (const t of captured) {
      const n = t.objects.names;
      const stored = m.position.tables.find((p) => p.source === n.source);
      if (!stored) {
        out.push({ source: n.source, group: n.group, replayed: 0, resync: `captured after backup ${m.name}` });
        continue;
      }
      const topic = await admin.fetchTopicOffsets(n.topic).catch(() => []);
      let replayed = 0;
      const expired: string[] = [];
      const partitions = topic.map((p) => {
        const at = stored.offsets.find((o) => o.partition === p.partition)?.offset ?? '-1';
        const low = Number(p.low);
        const want = Number(at) < 0 ? low : Number(at);
        if (want < low) expired.push(`partition ${p.partition} starts at ${low}, the backup's offset is ${want}`);
        const offset = Math.max(want, low);
        replayed += Math.max(0, Number(p.high) - offset);
        return { partition: p.partition, offset: String(offset) };
      });
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          if (partitions.length > 0) await admin.setOffsets({ groupId: n.group, topic: n.topic, partitions });
          break;
        } catch (err) {
          if (!emptyGroupError(err) || Date.now() > deadline) throw new Error(`rewinding ${n.group} on ${n.topic}: ${(err as Error).message}`, { cause: err });
          d.say(`waiting for group ${n.group} to lose the lost host's consumer (its session expires)`);
          await sleep(1_000);
        }
      }
      out.push({
        source: n.source,
        group: n.group,
        replayed,
        ...(expired.length > 0 ? { resync: `the topic no longer holds what followed the backup (${expired.join('; ')}): retention` } : {}),
      });
    }
    return out;
  });
}

/** Step 3: the shared objects' migrations (already recorded in the restored bookkeeping), then every flowing table's queue and views. */
export async function createConsumers(d: RestoreDeps, m: Manifest, timeoutMs = 150_000): Promise<{ queues: string[]; schemaWarnings: string[] }> {
  const ch = d.clickhouse;
  await migrateClickHouse(ch, { vars: ddlVars(), log: () => undefined });
  const captured = await capturedTables(d.pool, deriveOptions(d.endpoints), () => undefined);
  const flowing = flowingTables(captured, d.say);
  await reconcileClickHouse(ch, flowing, d.say);
  const queues = flowing.map((t) => t.objects.names.queue);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const waiting = await rows<{ name: string }>(
      ch,
      `SELECT t.database || '.' || t.name AS name FROM system.tables AS t LEFT JOIN system.kafka_consumers AS c ON c.database = t.database AND c.table = t.name
        WHERE t.engine = 'Kafka' AND (t.database || '.' || t.name) IN {queues:Array(String)} GROUP BY name HAVING countIf(length(c.assignments.topic) > 0) = 0`,
      { queues },
    );
    if (waiting.length === 0) break;
    if (Date.now() > deadline) throw new Error(`the Kafka consumers of ${waiting.map((w) => w.name).join(', ')} got no partitions within ${timeoutMs / 1000} s`);
    d.say(`waiting for ${waiting.length} queue(s) to join their groups`);
    await sleep(1_000);
  }
  return { queues, schemaWarnings: await schemaDifferences(d.registry, m.position.schemas).catch((e: Error) => [`schemas not compared: ${e.message}`]) };
}
