/**
 * The ClickHouse replica set of the native stack: CLICKHOUSE_URL (ch1) and
 * the hosts of CLICKHOUSE_REPLICA_URLS (ch2, ...), each with the consumer
 * group prefix it consumes under (shared/names.ts replicaGroupPrefix), and
 * CLICKHOUSE_PRIMARY, the replica reads go to first. Pure: no I/O (which
 * replica answers is connectors/clickhouse/replicas.ts's).
 */
import { replicaGroupPrefix, replicaName } from '../shared/names.ts';

export interface ClickHouseReplica {
  /** ch1, ch2, ...: what `validate --replica`, `lag --replica` and `ch --replica` take. */
  name: string;
  url: string;
  /** Its Kafka-engine consumer groups' prefix: ch1's is CLICKHOUSE_KAFKA_GROUP_PREFIX itself. */
  groupPrefix: string;
}

/** The replicas in order (ch1 first); problems (a primary that is none of them) are pushed. */
export function clickhouseReplicas(primaryUrl: string, replicaUrls: string | undefined, groupPrefix: string, primary: string, problems: string[]): ClickHouseReplica[] {
  const urls = [primaryUrl, ...(replicaUrls ?? '').split(',').map((u) => u.trim()).filter(Boolean)];
  const replicas = urls.map((url, i) => ({ name: replicaName(i), url, groupPrefix: replicaGroupPrefix(groupPrefix, i) }));
  if (!replicas.some((r) => r.name === primary)) problems.push(`CLICKHOUSE_PRIMARY: ${primary} is not a replica (${replicas.map((r) => r.name).join(', ')}: CLICKHOUSE_URL, then CLICKHOUSE_REPLICA_URLS)`);
  return replicas;
}

/** Where the pipeline's objects and settings of one replica live: the endpoints with its URL and consumer groups. */
export function replicaEndpoints<E extends { clickhouseUrl: string; groupPrefix: string }>(e: E, r: ClickHouseReplica): E {
  return { ...e, clickhouseUrl: r.url, groupPrefix: r.groupPrefix };
}

/** One replica by name, or an error naming the configured ones. */
export function findReplica(replicas: ClickHouseReplica[], name: string): ClickHouseReplica {
  const r = replicas.find((x) => x.name === name);
  if (!r) throw new Error(`no ClickHouse replica ${name}: the configured ones are ${replicas.map((x) => `${x.name} (${x.url})`).join(', ')} (CLICKHOUSE_URL, CLICKHOUSE_REPLICA_URLS)`);
  return r;
}

/** The order reads try the replicas in: the primary, then the others as configured. */
export function readOrder(replicas: ClickHouseReplica[], primary: string): ClickHouseReplica[] {
  return [...replicas.filter((r) => r.name === primary), ...replicas.filter((r) => r.name !== primary)];
}
