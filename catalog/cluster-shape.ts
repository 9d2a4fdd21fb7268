/**
 * A table's objects for a real ClickHouse cluster (CLICKHOUSE_CLUSTER set):
 * the single-host objects of clickhouse-objects.ts, placed across shards and
 * replicas. Every object is created ON CLUSTER (on-cluster.ts), so each host
 * holds:
 *
 *   <t>_changelog_local, <t>_changes_local, <t>_local
 *       the data: the single-host engines made Replicated (ReplicatedMergeTree,
 *       ReplicatedReplacingMergeTree), Keeper path per shard from database and
 *       table (keeperPath), replica from the {replica} macro
 *   <t>_changelog, <t>_changes, <t>
 *       Distributed over the local tables, sharded by cityHash64 of the key:
 *       today's names, so every reader (validation, lag, dbt, `ch`) reads the
 *       whole cluster through them unchanged
 *   <t>_queue and its views
 *       the Kafka-engine consumer on every host, writing into the local tables
 *
 * Consumer groups: one per shard (`<group>-shard{shard}`: Kafka-engine
 * settings expand macros), so every shard reads every partition of the topic
 * and keeps only the keys that hash to it, with the same hash and modulus
 * the Distributed table uses for its sharding key. The replicas of a shard
 * share their shard's group, so Kafka splits the partitions between them;
 * each writes what it read into the shard's Replicated tables and
 * replication copies it to the sibling. Why not one group for the whole
 * cluster (each shard a disjoint set of partitions): a rebalance moves a
 * partition to another shard, and a key's next versions then land on a shard
 * that does not hold its earlier ones; ReplacingMergeTree collapses versions
 * only within a shard, so `FINAL` through the Distributed table would show
 * the key twice (or a deleted key still live). Keeping placement by key makes
 * rebalances and redeliveries harmless at the price of every shard reading
 * the whole topic. README.md ("A ClickHouse cluster") says the same.
 *
 * Pure, like clickhouse-objects.ts: the cluster's layout is read by the
 * server at insert time (system.clusters), never by the generator.
 */
import { ident } from './column-types.ts';
import type { StorageObject, TableObjects, ViewObject } from './object-types.ts';

/** Appended to a data table's name for its per-host table; the Distributed table keeps the name. */
export const LOCAL_SUFFIX = '_local';
export const localName = (name: string): string => `${name}${LOCAL_SUFFIX}`;

/** The Keeper path of a replicated table: one znode tree per shard, named by database and table. */
export function keeperPath(qualifiedName: string): string {
  const [database, table] = qualifiedName.split('.');
  return `/clickhouse/tables/{shard}/${database}/${table}`;
}

/** `ReplacingMergeTree(version, is_deleted)` -> `ReplicatedReplacingMergeTree('<path>', '{replica}', version, is_deleted)`. */
export function replicatedEngine(engine: string, qualifiedName: string): string {
  const m = /^(\w*MergeTree)(?:\((.*)\))?$/.exec(engine.trim());
  if (!m) throw new Error(`${qualifiedName}: engine ${engine} is not of the MergeTree family; no Replicated form`);
  const args = [`'${keeperPath(qualifiedName)}'`, `'{replica}'`, ...(m[2] ? [m[2]] : [])];
  return `Replicated${m[1]}(${args.join(', ')})`;
}

/** What the Distributed tables shard by: cityHash64 of the key columns (any types, any count; evenly spread). */
export const shardingKey = (key: string[]): string => `cityHash64(${key.map(ident).join(', ')})`;

export function distributedEngine(cluster: string, local: string, key: string[]): string {
  const [database, table] = local.split('.');
  return `Distributed('${cluster}', '${database}', '${table}', ${shardingKey(key)})`;
}

/**
 * This host's shard (0-based) and the number of shards, as the Distributed
 * engine counts them: shards in remote_servers order, each of weight 1, a row
 * to shard `sharding key % shards`.
 */
const shardIndex = (cluster: string) => `(SELECT any(shard_num) - 1 FROM system.clusters WHERE cluster = '${cluster}' AND is_local)`;
const shardCount = (cluster: string) => `(SELECT max(shard_num) FROM system.clusters WHERE cluster = '${cluster}')`;

/**
 * The condition a queue's view keeps a row on: its key hashes to this shard.
 * The key is cast to the stored column's type so the hash is of the same
 * bytes the Distributed table hashes.
 */
export function shardFilter(cluster: string, key: { name: string; type: string }[]): string {
  return `cityHash64(${key.map((k) => `CAST(${ident(k.name)}, '${k.type}')`).join(', ')}) % ${shardCount(cluster)} = ${shardIndex(cluster)}`;
}

/** Unparsable messages carry no key: each is kept by one shard, by partition, so the cluster records it once. */
export const errorShardFilter = (cluster: string): string => `_partition % ${shardCount(cluster)} = ${shardIndex(cluster)}`;

/** Every shard its own consumer group, shared by its replicas; `{shard}` is the host's macro. */
export const shardGroup = (group: string): string => `${group}-shard{shard}`;

/** The group one shard's queues consume in: shardGroup with the shard's macro value put in, as the server expands it. */
export const shardGroupOf = (group: string, shard: string): string => shardGroup(group).replace('{shard}', shard);

/**
 * The `{shard}` macro of every server of the cluster, each value once: the shards whose consumer groups a
 * reader of offsets (lag, catch-up) must read. A server that does not answer is skipped; its shard's
 * sibling replica has the same value.
 */
export const shardMacrosSql = (cluster: string): string =>
  `SELECT DISTINCT substitution AS shard FROM clusterAllReplicas('${cluster.replaceAll("'", "''")}', system.macros) WHERE macro = 'shard' ORDER BY shard SETTINGS skip_unavailable_shards = 1`;

function withTail(v: ViewObject, tail: string, add: string): ViewObject {
  if (!v.select.endsWith(tail)) throw new Error(`${v.name}: its SELECT no longer ends with "${tail}"; the cluster shape cannot place it`);
  return { ...v, select: `${v.select}${add}` };
}

/** The single-host objects of one table, in the cluster shape. */
export function clusterShape(t: TableObjects, cluster: string): TableObjects {
  const local = (s: StorageObject): StorageObject => ({ ...s, name: localName(s.name), engine: replicatedEngine(s.engine, localName(s.name)), cluster });
  const [changelog, changes, current] = [t.changelog, t.changes, t.current].map(local) as [StorageObject, StorageObject, StorageObject];
  const distributed = [t.changelog, t.changes, t.current].map(
    (s): StorageObject => ({ kind: 'storage', name: s.name, columns: s.columns, engine: distributedEngine(cluster, localName(s.name), t.key), orderBy: [], cluster }),
  );
  const keyColumns = t.key.map((k) => ({ name: k, type: t.current.columns.find((c) => c.name === k)!.type }));
  const targets = new Map([t.changelog, t.changes, t.current].map((s) => [s.name, localName(s.name)]));
  const view = (v: ViewObject): ViewObject => ({ ...v, to: targets.get(v.to) ?? v.to, cluster });
  const views = t.views.map((v) =>
    v.to === t.errors.name
      ? withTail(view(v), 'WHERE length(_error) > 0', `\n  AND ${errorShardFilter(cluster)}`)
      : withTail(view(v), 'WHERE length(_error) = 0', `\n  AND ${shardFilter(cluster, keyColumns)}`),
  );
  const changesView = view(t.changesView);
  const feed = `FROM ${t.changelog.name}`;
  if (!changesView.select.endsWith(feed)) throw new Error(`${changesView.name}: its SELECT no longer ends with "${feed}"; the cluster shape cannot place it`);
  changesView.select = `${changesView.select.slice(0, -feed.length)}FROM ${changelog.name}`;
  const shadow = localName(t.resync.shadow.name);
  return {
    ...t,
    changelog,
    changes,
    current,
    changesView,
    queue: {
      ...t.queue,
      settings: t.queue.settings.map(([k, v]) => [k, k === 'kafka_group_name' ? shardGroup(String(v)) : v]),
      cluster,
    },
    views,
    resync: {
      ...t.resync,
      input: { ...t.resync.input, cluster },
      shadow: { ...current, name: shadow, engine: replicatedEngine(t.current.engine, shadow) },
      view: { ...t.resync.view, to: shadow, cluster },
    },
    distributed,
    cluster,
  };
}
