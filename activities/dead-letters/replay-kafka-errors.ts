/**
 * Dead letters of the CDC path (`astros.kafka_errors`): list them, and replay
 * them after a fix (a schema registered, the registry reachable again, the
 * ClickHouse side migrated) by producing the kept bytes again to the same
 * topic and partition, where the Kafka engine reads them like any message.
 * Replaying a Debezium event is harmless even if it had landed: its version
 * is its source LSN, so the current state keeps the newest change.
 *
 * Idempotent: each replayed error (topic/partition/offset) is recorded in
 * Postgres' `dead_letter_replays` with the offset it was produced at again;
 * an error already replayed, or one that is itself the product of a replay
 * (it failed again), is not replayed automatically. `dryRun` lists what would
 * be produced.
 */
import type pg from 'pg';
import { chRows, type ClickHouseClient } from '../../connectors/clickhouse/client.ts';
import type { Kafka } from '../../connectors/kafka/client.ts';
import { produceAgain } from '../../connectors/kafka/topics.ts';
import { pipelineNames } from '../../shared/names.ts';
import type { ReplayItem } from './replay-rejects.ts';

export interface KafkaErrorRow {
  topic: string;
  partition: number;
  offset: string;
  error: string;
  bytes: number;
  received_at: string;
}

export interface KafkaErrorFilter {
  topic?: string;
  /** Only these offsets (with `topic`). */
  offsets?: string[];
  /** Only this partition (with `topic`): an offset is one partition's. */
  partition?: number;
}

const errorsTable = `${pipelineNames.clickhouseDatabase}.${pipelineNames.kafkaErrorsTable}`;
const itemOf = (r: { topic: string; partition: number; offset: string }) => `${r.topic}/${r.partition}/${r.offset}`;

function where(f: KafkaErrorFilter): { sql: string; params: Record<string, unknown> } {
  const parts: string[] = [];
  const params: Record<string, unknown> = {};
  if (f.topic !== undefined) {
    parts.push('topic = {topic:String}');
    params.topic = f.topic;
  }
  if (f.offsets !== undefined) {
    parts.push('toString(offset) IN {offsets:Array(String)}');
    params.offsets = f.offsets;
  }
  if (f.partition !== undefined) {
    parts.push('partition = {partition:UInt32}');
    params.partition = f.partition;
  }
  return { sql: parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/** One row per kept message (the Kafka engine is at-least-once: a redelivered error is stored twice). */
// `offset` below names its text alias, so it is sorted by toUInt64 (as text, offset 10 would come before 9).
export async function listKafkaErrors(ch: ClickHouseClient, f: KafkaErrorFilter, limit: number): Promise<KafkaErrorRow[]> {
  const w = where(f);
  return chRows<KafkaErrorRow>(
    ch,
    `SELECT topic, partition, toString(offset) AS offset, any(error) AS error, any(length(raw_message)) AS bytes, toString(min(received_at)) AS received_at
     FROM ${errorsTable} ${w.sql}
     GROUP BY topic, partition, offset ORDER BY topic, partition, toUInt64(offset) LIMIT {limit:UInt32}`,
    { ...w.params, limit },
  );
}

export async function replayKafkaErrors(deps: { ch: ClickHouseClient; kafka: Kafka; pool: pg.Pool }, f: KafkaErrorFilter & { dryRun: boolean }): Promise<ReplayItem[]> {
  const { rows: done } = await deps.pool.query<{ item: string; result: string | null }>(`select item, result from dead_letter_replays where source = 'kafka_errors'`);
  const skip = new Set(done.flatMap((d) => [d.item, ...(d.result ? [d.result] : [])]));
  const w = where(f);
  const kept = await chRows<{ topic: string; partition: number; offset: string; hex: string }>(
    deps.ch,
    `SELECT topic, partition, toString(offset) AS offset, any(hex(raw_message)) AS hex FROM ${errorsTable} ${w.sql}
     GROUP BY topic, partition, offset ORDER BY topic, partition, toUInt64(offset)`,
    w.params,
  );
  const todo = kept.filter((r) => !skip.has(itemOf(r)));
  const items: ReplayItem[] = [];
  if (todo.length === 0) return items;
  if (f.dryRun) {
    for (const r of todo) {
      const bytes = r.hex.length / 2;
      items.push({ source: 'kafka_errors', item: itemOf(r), what: `${itemOf(r)} (${bytes} bytes)`, outcome: 'applied', detail: `dry run: would produce ${bytes} bytes to ${r.topic}[${r.partition}]` });
    }
    return items;
  }
  const messages = todo.map((r) => ({ topic: r.topic, partition: r.partition, value: Buffer.from(r.hex, 'hex') }));
  await produceAgain(deps.kafka, messages, async (i, offset) => {
    const r = todo[i]!;
    const result = itemOf({ topic: r.topic, partition: r.partition, offset });
    const item: ReplayItem = { source: 'kafka_errors', item: itemOf(r), what: `${itemOf(r)} (${messages[i]!.value.length} bytes)`, outcome: 'applied', detail: `produced again at ${result}`, result };
    await deps.pool.query(
      `insert into dead_letter_replays (source, item, outcome, detail, result) values ($1, $2, $3, $4, $5) on conflict (source, item) do nothing`,
      [item.source, item.item, item.outcome, item.detail, item.result],
    );
    items.push(item);
  });
  return items;
}
