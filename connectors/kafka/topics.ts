/**
 * The captured tables' topics: created before ClickHouse subscribes (so its
 * consumers get their partitions now rather than after the first change; an
 * empty table produces no topic until it changes), each with its retention.ms
 * (catalog/retention.ts says what it bounds) and its partitions. Messages
 * produced again (a dead letter's replay).
 *
 * A topic's partitions are fixed once it exists: Kafka could add some, but
 * keys would then move to other partitions while their older changes still
 * wait in the old ones, and a key's order would no longer hold. A declaration
 * that changes them is refused (partitionChange) with the way out.
 */
import type { ConfigResourceTypes, Kafka } from 'kafkajs';
import { formatRetention } from '../../shared/duration.ts';
import { topicRetentionMs, topicRetentionUpdate } from '../../catalog/retention.ts';
import { withAdmin } from './client.ts';

/** ConfigResourceTypes.TOPIC (not an ESM named export of kafkajs' CommonJS build). */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;

export interface TopicSpec {
  topic: string;
  /** retention.ms to keep on the topic (0: forever). */
  retentionMs: number;
  /** Partitions the topic is created with (default 1); an existing topic must have as many. */
  partitions?: number;
}

/** Why an existing topic cannot take the declared partitions, or undefined when it has them. */
export function partitionChange(topic: string, have: number, want: number, source = 'its table'): string | undefined {
  if (have === want) return undefined;
  return (
    `topic ${topic} has ${have} partition(s) but ${source} declares ${want}: a running table's partitions cannot change ` +
    `(a key would move while its older changes wait in the old partition); declare partitions: ${have} again, ` +
    `or stop capturing the table, delete the topic and capture it again (npm run tables -- remove, then add)`
  );
}

/**
 * Create the missing topics and give every one its retention.ms: at creation, and on a topic that
 * exists (made by an earlier setup, or by the broker when Debezium first wrote to it) whenever it
 * differs. Returns what changed (or, with dryRun, would change).
 */
export async function ensureTopics(kafka: Kafka, topics: TopicSpec[], log: (m: string) => void, dryRun = false): Promise<string[]> {
  const changes: string[] = [];
  const say = (m: string) => {
    changes.push(m);
    log(`[kafka] ${dryRun ? 'would ' : ''}${m}`);
  };
  await withAdmin(kafka, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      if (!dryRun) {
        await admin.createTopics({
          topics: missing.map((t) => ({ topic: t.topic, numPartitions: t.partitions ?? 1, configEntries: [{ name: 'retention.ms', value: topicRetentionMs(t.retentionMs) }] })),
          waitForLeaders: true,
        });
      }
      for (const t of missing) say(`create topic ${t.topic} (${partitionsText(t.partitions ?? 1)}retention ${formatRetention(t.retentionMs)})`);
    }
    const present = topics.filter((t) => existing.has(t.topic));
    if (present.length === 0) return;
    const meta = await admin.fetchTopicMetadata({ topics: present.map((t) => t.topic) });
    const refused = present.flatMap((t) => {
      const have = meta.topics.find((m) => m.name === t.topic)?.partitions.length ?? 0;
      return partitionChange(t.topic, have, t.partitions ?? 1) ?? [];
    });
    if (refused.length > 0) throw new Error(refused.join('\n'));
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: present.map((t) => ({ type: TOPIC_RESOURCE, name: t.topic })) });
    const alter = present.flatMap((t) => {
      const described = resources.find((r) => r.resourceName === t.topic);
      if (!described || described.errorCode !== 0) throw new Error(`describing topic ${t.topic} failed: ${described?.errorMessage ?? 'no answer'}`);
      const u = topicRetentionUpdate(described.configEntries, t.retentionMs);
      if (!u) return [];
      say(`${t.topic}: retention.ms ${u.from} -> ${u.to} (${formatRetention(t.retentionMs)})`);
      return [{ type: TOPIC_RESOURCE, name: t.topic, configEntries: u.entries }];
    });
    if (alter.length > 0 && !dryRun) await admin.alterConfigs({ validateOnly: false, resources: alter });
  });
  return changes;
}

/** The partitions in a creation line, said only when more than one (one is every topic's until now). */
const partitionsText = (n: number): string => (n > 1 ? `${n} partitions, ` : '');

/** Produce each value again to its topic and partition; returns the offset each got. */
export async function produceAgain(kafka: Kafka, messages: { topic: string; partition: number; value: Buffer }[], each: (i: number, offset: string) => Promise<void>): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (const [i, m] of messages.entries()) {
      const [meta] = await producer.send({ topic: m.topic, messages: [{ value: m.value, partition: m.partition }] });
      await each(i, meta?.baseOffset ?? '?');
    }
  } finally {
    await producer.disconnect();
  }
}

export interface TopicDescription {
  topic: string;
  partitions: { partition: number; leader: number; replicas: number[]; isr: number[] }[];
  /** The replicas of each partition (every partition has as many). */
  replicationFactor: number;
  /** The topic's min.insync.replicas (its own, or the broker's default). */
  minInsyncReplicas: number;
}

/** A topic's partitions, their leaders, replicas and in-sync replicas, and its min.insync.replicas. */
export async function describeTopic(kafka: Kafka, topic: string): Promise<TopicDescription> {
  return withAdmin(kafka, async (admin) => {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const t = meta.topics[0];
    if (!t) throw new Error(`topic ${topic} does not exist`);
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: ['min.insync.replicas'] }] });
    const minIsr = Number(resources[0]?.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue);
    const partitions = t.partitions
      .map((p) => ({ partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr }))
      .sort((a, b) => a.partition - b.partition);
    return { topic, partitions, replicationFactor: partitions[0]?.replicas.length ?? 0, minInsyncReplicas: minIsr };
  });
}

/** What an operator of a cluster needs of Kafka: which of the configured brokers are in the cluster, and which partitions lack replicas or a leader. */
export interface KafkaClusterHealth {
  /** Each broker of the bootstrap list: up when the cluster's metadata lists it (a dead or fenced broker is left out of it). */
  brokers: { address: string; nodeId: number | null; up: boolean }[];
  /** Partitions with fewer in-sync replicas than replicas. */
  underReplicated: { topic: string; partition: number; replicas: number[]; isr: number[] }[];
  /** Partitions without a leader: nothing can be written to or read from them. */
  offline: { topic: string; partition: number }[];
}

export async function kafkaClusterHealth(kafka: Kafka, configured: string[]): Promise<KafkaClusterHealth> {
  return withAdmin(kafka, async (admin) => {
    const { brokers } = await admin.describeCluster();
    const live = new Map(brokers.map((b) => [`${b.host}:${b.port}`, b.nodeId]));
    const meta = await admin.fetchTopicMetadata();
    const parts = meta.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr })));
    const order = (a: { topic: string; partition: number }, b: { topic: string; partition: number }) => a.topic.localeCompare(b.topic) || a.partition - b.partition;
    return {
      brokers: configured.map((address) => ({ address, nodeId: live.get(address) ?? null, up: live.has(address) })),
      underReplicated: parts.filter((p) => p.isr.length < p.replicas.length).map(({ topic, partition, replicas, isr }) => ({ topic, partition, replicas, isr })).sort(order),
      offline: parts.filter((p) => p.leader < 0).map(({ topic, partition }) => ({ topic, partition })).sort(order),
    };
  });
}
