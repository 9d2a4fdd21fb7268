/**
 * The captured tables' topics: created before ClickHouse subscribes (so its
 * consumers get their partitions now rather than after the first change; an
 * empty table produces no topic until it changes), each with its retention.ms
 * (catalog/retention.ts says what it bounds). Messages produced again (a dead
 * letter's replay).
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
          topics: missing.map((t) => ({ topic: t.topic, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: topicRetentionMs(t.retentionMs) }] })),
          waitForLeaders: true,
        });
      }
      for (const t of missing) say(`create topic ${t.topic} (retention ${formatRetention(t.retentionMs)})`);
    }
    const present = topics.filter((t) => existing.has(t.topic));
    if (present.length === 0) return;
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
