/**
 * The Kafka consumer groups a table's ClickHouse queues consume in: the
 * table's group on one host; with a cluster (CLICKHOUSE_CLUSTER) one group
 * per shard (catalog/cluster-shape.ts shardGroup), each shard reading every
 * partition of the topic. Whoever reads committed offsets (lag, catch-up)
 * reads them of every group here: a table is caught up when every shard is,
 * and its lag is its worst shard's.
 */
import { shardGroupOf, shardMacrosSql } from '../../catalog/cluster-shape.ts';
import { chRows, type ClickHouseClient } from './client.ts';

export class NoShards extends Error {}

/** The shards' `{shard}` macro values, each once (the cluster's servers asked through any of them). */
export async function clusterShards(ch: ClickHouseClient, cluster: string): Promise<string[]> {
  const shards = (await chRows<{ shard: string }>(ch, shardMacrosSql(cluster))).map((r) => r.shard);
  if (shards.length === 0) throw new NoShards(`ClickHouse cluster ${cluster}: no server answers with a {shard} macro (system.macros); is CLICKHOUSE_CLUSTER a cluster of remote_servers?`);
  return shards;
}

/** The consumer groups of `group` (the table's group as shared/names.ts names it): itself, or one per shard. */
export async function consumerGroupsOf(ch: ClickHouseClient, cluster: string | undefined, group: string): Promise<string[]> {
  if (cluster === undefined) return [group];
  return (await clusterShards(ch, cluster)).map((s) => shardGroupOf(group, s));
}
