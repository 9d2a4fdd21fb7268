/**
 * What the cluster's fault test does to hosts and asks of the cluster: cut a
 * host off the bridge (its veth down inside its namespace) and restore it,
 * which Connect worker runs the connector's task, which broker leads a
 * partition, whether the cluster is whole again (every host healthy, every
 * replica in sync, the task running), and how long the pipeline stalled
 * (no new change visible in ClickHouse) while a fault lasted.
 */
import { execFileSync } from 'node:child_process';
import { hostsRunning, type ClusterHost } from '../../config/cluster.ts';
import { kafkaClient } from '../../connectors/kafka/client.ts';
import type { ClickHouseClient } from '@clickhouse/client';
import { describeTopic, kafkaClusterHealth, type TopicDescription } from '../../connectors/kafka/topics.ts';
import { KafkaConnect, type ConnectorStatus } from '../../connectors/kafka-connect/client.ts';
import { pipelineNames } from '../../shared/names.ts';
import { createContext } from '../../stack/lib/context.ts';
import { chRows, requireEnv, waitFor } from '../integration/helpers.ts';
import { clusterManager, clusterPlanOfTests } from './cluster-stack.ts';

const plan = clusterPlanOfTests();

export const hostNamed = (name: string): ClusterHost => plan.hosts.find((h) => h.host === name)!;

/** The host's link down inside its namespace: it runs on, and nothing reaches it or leaves it. */
export function cutHost(host: ClusterHost): void {
  execFileSync('ip', ['-n', host.namespace, 'link', 'set', 'eth0', 'down']);
}

/** The link up again (its address and the subnet's route come back with it). */
export function restoreHost(host: ClusterHost): void {
  execFileSync('ip', ['-n', host.namespace, 'link', 'set', 'eth0', 'up']);
}

const connectWorkers = () => hostsRunning(plan, 'connect').map((h) => ({ host: h, rest: new KafkaConnect(`http://${h.address}:${createContext('cluster').ports.connect}`) }));

/** The connector's status as the first worker that answers gives it. */
export async function connectorStatus(except?: ClusterHost): Promise<ConnectorStatus | undefined> {
  for (const w of connectWorkers()) {
    if (w.host === except) continue;
    const s = await w.rest.status(pipelineNames.connector, 5000).catch(() => undefined);
    if (s) return s;
  }
  return undefined;
}

/** The Connect host whose worker runs the connector's task, by the worker id (its advertised address) Connect reports. */
export function taskHost(s: ConnectorStatus | undefined): ClusterHost | undefined {
  const id = s?.tasks[0]?.state === 'RUNNING' ? s.tasks[0].worker_id : undefined;
  return id ? hostsRunning(plan, 'connect').find((h) => id.startsWith(`${h.address}:`)) : undefined;
}

/** A failed task restarted through whichever worker answers; 1 when one was. */
export async function restartFailedTask(): Promise<number> {
  const s = await connectorStatus();
  if (!s || (s.connector.state !== 'FAILED' && !s.tasks.some((t) => t.state === 'FAILED'))) return 0;
  for (const w of connectWorkers()) if (await w.rest.restart(pipelineNames.connector, { includeTasks: true, onlyFailed: true }).then(() => true, () => false)) return 1;
  return 0;
}

export const describe = (topic: string): Promise<TopicDescription> => describeTopic(kafkaClient(requireEnv('KAFKA_BROKERS').split(','), 'cluster-faults'), topic);

/** The broker host that leads a partition of the topic. */
export async function leaderHost(topic: string, partition: number): Promise<ClusterHost> {
  const d = await describe(topic);
  return hostsRunning(plan, 'kafka')[d.partitions[partition]!.leader - 1]!;
}

/**
 * The broker host that coordinates a consumer group: the leader of the group's partition of
 * __consumer_offsets (Kafka's own rule: the group id's Java hashCode, made non-negative, modulo
 * the topic's partitions).
 */
export async function coordinatorHost(group: string): Promise<ClusterHost> {
  let hash = 0;
  for (let i = 0; i < group.length; i++) hash = (Math.imul(hash, 31) + group.charCodeAt(i)) | 0;
  const offsets = await describe('__consumer_offsets');
  return hostsRunning(plan, 'kafka')[offsets.partitions[(hash & 0x7fffffff) % offsets.partitions.length]!.leader - 1]!;
}

/** Every host's component healthy, every partition of the topics on all three replicas in sync, the connector's task running. */
export async function waitWhole(topics: string[]): Promise<void> {
  const manager = clusterManager();
  await waitFor(
    async () => {
      const rows = (await manager.status()).filter((r) => r.host && r.state !== 'healthy').map((r) => `${r.name} ${r.state}`);
      for (const t of topics) for (const p of (await describe(t)).partitions) if (p.isr.length < p.replicas.length) rows.push(`${t}[${p.partition}] isr ${p.isr.join(',')}`);
      if (!taskHost(await connectorStatus())) rows.push('connector task not running');
      return rows;
    },
    (rows) => rows.length === 0,
    'the cluster to be whole (every host healthy, every replica in sync, the task running)',
    240_000,
    1000,
  );
}

/**
 * The longest time no new change became visible, sampled every 500 ms from
 * start() to stop(): `highest` reads the highest change id ClickHouse shows.
 */
export function stallMeter(highest: () => Promise<number>): { stop(): Promise<number> } {
  let running = true;
  let last = -1;
  let since = Date.now();
  let longest = 0;
  const loop = (async () => {
    while (running) {
      const now = Date.now();
      const h = await highest().catch(() => last);
      if (h > last) {
        longest = Math.max(longest, now - since);
        last = h;
        since = now;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return Math.max(longest, Date.now() - since) / 1000;
    },
  };
}

/** When the cluster's metadata (what the monitor reads) first lacks the broker at `address`, polled every 250 ms. */
export async function brokerGoneAt(address: string): Promise<number> {
  const brokers = requireEnv('KAFKA_BROKERS').split(',');
  const kafka = kafkaClient(brokers, 'cluster-faults');
  await waitFor(async () => (await kafkaClusterHealth(kafka, brokers)).brokers.find((b) => b.address === address)?.up, (up) => up === false, `the cluster's metadata to lose ${address}`, 60_000, 250);
  return Date.now();
}

/** astros_kafka_broker_up of the broker in the monitor's first sample taken at or after `since` (undefined: none yet). */
export async function brokerUpInFirstSampleAfter(ch: ClickHouseClient, instance: string, address: string, since: number): Promise<number | undefined> {
  const [r] = await chRows<{ n: string; v: number }>(
    ch,
    `SELECT count() AS n, argMin(value, at) AS v FROM ${pipelineNames.clickhouseDatabase}.monitor_samples
      WHERE instance = {i:String} AND metric = 'astros_kafka_broker_up' AND labels['broker'] = {b:String} AND at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')`,
    { i: instance, b: address, since },
  );
  return Number(r?.n ?? 0) > 0 ? Number(r!.v) : undefined;
}
