/**
 * The ClickHouse cluster of docker-compose.yml's `cluster` profile, in one
 * place: 2 shards x 2 replicas of clickhouse-server and 3 ClickHouse Keeper
 * nodes. Its configuration files under docker/clickhouse/cluster/ are
 * generated from here (`npm run catalog -- generate`, generated-files.ts) and
 * checked like every generated file; test/unit/compose.test.ts checks that
 * the profile's services are these hosts and mount these files.
 *
 *   remote-servers.xml   every server: the cluster (internal_replication: the
 *                        Distributed tables write one replica, Replicated
 *                        tables copy to the other), Keeper, distributed DDL
 *   macros-<host>.xml    one server: {shard} (1-based, remote_servers order,
 *                        as the shard filter of cluster-shape.ts counts it),
 *                        {replica} (the host name: unique per shard)
 *   keeper-<n>.xml       one Keeper node: its id and the raft peers
 */
import path from 'node:path';
import { repoRoot } from '../config/paths.ts';

export const composeCluster = { name: 'astros', shards: 2, replicas: 2, keepers: 3 } as const;

/** Ports inside the compose network (ClickHouse's and Keeper's defaults). */
const ports = { native: 9000, keeper: 9181, raft: 9234 } as const;

export const clusterDir = path.join(repoRoot, 'docker', 'clickhouse', 'cluster');

export interface ClusterHost {
  /** Compose service and host name. */
  host: string;
  shard: number;
  replica: number;
}

export function clusterHosts(c = composeCluster): ClusterHost[] {
  return Array.from({ length: c.shards }, (_, s) => Array.from({ length: c.replicas }, (_, r) => ({ host: `clickhouse-s${s + 1}-r${r + 1}`, shard: s + 1, replica: r + 1 }))).flat();
}

export const keeperHosts = (c = composeCluster): string[] => Array.from({ length: c.keepers }, (_, i) => `clickhouse-keeper-${i + 1}`);

const header = '<!-- Generated from catalog/cluster-compose.ts by `npm run catalog -- generate`; do not edit. -->\n';

export function remoteServersXml(c = composeCluster): string {
  const hosts = clusterHosts(c);
  const shards = Array.from({ length: c.shards }, (_, s) => {
    const replicas = hosts
      .filter((h) => h.shard === s + 1)
      // The password of the servers' default user, from their environment: no secret in the file.
      .map((h) => `        <replica>\n          <host>${h.host}</host>\n          <port>${ports.native}</port>\n          <user>default</user>\n          <password from_env="CLICKHOUSE_PASSWORD"/>\n        </replica>`);
    return `      <shard>\n        <internal_replication>true</internal_replication>\n${replicas.join('\n')}\n      </shard>`;
  });
  const keepers = keeperHosts(c).map((k) => `    <node>\n      <host>${k}</host>\n      <port>${ports.keeper}</port>\n    </node>`);
  return (
    `${header}<clickhouse>\n  <remote_servers>\n    <${c.name}>\n${shards.join('\n')}\n    </${c.name}>\n  </remote_servers>\n` +
    `  <zookeeper>\n${keepers.join('\n')}\n  </zookeeper>\n` +
    `  <distributed_ddl>\n    <path>/clickhouse/task_queue/ddl</path>\n  </distributed_ddl>\n</clickhouse>\n`
  );
}

export function macrosXml(h: ClusterHost, c = composeCluster): string {
  return `${header}<clickhouse>\n  <macros>\n    <cluster>${c.name}</cluster>\n    <shard>${h.shard}</shard>\n    <replica>${h.host}</replica>\n  </macros>\n</clickhouse>\n`;
}

export function keeperXml(id: number, c = composeCluster): string {
  const peers = keeperHosts(c).map((k, i) => `      <server>\n        <id>${i + 1}</id>\n        <hostname>${k}</hostname>\n        <port>${ports.raft}</port>\n      </server>`);
  return (
    `${header}<clickhouse>\n  <listen_host>0.0.0.0</listen_host>\n  <logger>\n    <level>information</level>\n    <console>1</console>\n  </logger>\n` +
    `  <keeper_server>\n    <tcp_port>${ports.keeper}</tcp_port>\n    <server_id>${id}</server_id>\n` +
    `    <log_storage_path>/var/lib/clickhouse-keeper/log</log_storage_path>\n    <snapshot_storage_path>/var/lib/clickhouse-keeper/snapshots</snapshot_storage_path>\n` +
    `    <raft_configuration>\n${peers.join('\n')}\n    </raft_configuration>\n  </keeper_server>\n</clickhouse>\n`
  );
}

/** Every file of the profile's configuration, with the text the generator wants. */
export function clusterConfigFiles(c = composeCluster): { file: string; text: string }[] {
  return [
    { file: path.join(clusterDir, 'remote-servers.xml'), text: remoteServersXml(c) },
    ...clusterHosts(c).map((h) => ({ file: path.join(clusterDir, `macros-${h.host}.xml`), text: macrosXml(h, c) })),
    ...keeperHosts(c).map((k, i) => ({ file: path.join(clusterDir, `${k}.xml`), text: keeperXml(i + 1, c) })),
  ];
}
