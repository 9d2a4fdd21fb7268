/**
 * Every message of a captured table's topic, accounted for by its offset.
 *
 * ClickHouse's Kafka engine turns a message into a change-log row (parsed;
 * the row keeps `kafka_offset`) or, with kafka_handle_error_mode='stream', a
 * row of `astros.kafka_errors` (topic, partition, offset, raw message,
 * error). One kind of message leaves neither: AvroConfluent SKIPS empty
 * messages and tombstones (null value) without an error, so they would
 * vanish without a trace. They are counted here instead: an offset the
 * consumer group has committed past that has neither a change-log row nor an
 * error row is "skipped (empty or tombstone)". Offsets not yet committed are
 * "pending". (Kafka transaction markers would count as skipped too; the
 * Debezium connector does not write transactions.)
 *
 * Offsets are a partition's: a topic with several partitions is accounted
 * partition by partition (the change log keeps each row's kafka_partition,
 * kafka_errors its partition), never as one sum where one partition's
 * pending could hide another's skipped.
 *
 * Retention: the change log and kafka_errors expire rows by TTL, the topic
 * its messages by retention.ms, on separate clocks. Offsets whose message is
 * older than what ClickHouse keeps (`keptMs`) are left out of the default
 * range: their rows may be gone, and they would read as skipped. A message's
 * timestamp is earlier than its row's ingested_at, so every offset from the
 * first message inside that window on still has its row.
 */
import { chRows, type ClickHouseClient } from '../../connectors/clickhouse/client.ts';
import { withAdmin, type Kafka } from '../../connectors/kafka/client.ts';
import { committedOffsets, offsetsAtTime, topicEnds } from '../../connectors/kafka/offsets.ts';
import { pipelineNames, type TableNames } from '../../shared/names.ts';

export interface OffsetAccount {
  topic: string;
  partition: number;
  /** First offset looked at (inclusive) and the end (exclusive, the high watermark unless told). */
  from: string;
  to: string;
  /** The ClickHouse group's committed offset (everything before it was consumed). */
  committed: string;
  parsed: number;
  errors: number;
  /** Consumed offsets with neither a row nor an error: empty messages and tombstones. */
  skipped: number;
  /** Offsets at or past the committed one: not consumed yet. */
  pending: number;
  /** The skipped offsets themselves, when the range is small enough to list them (at most `listLimit`). */
  skippedOffsets?: string[];
  /** Kafka's first offset, when `from` is later because older messages are past ClickHouse's retention. */
  expiredFrom?: string;
}

type AccountNames = Pick<TableNames, 'topic' | 'group' | 'changelog' | 'database'>;

/** Every partition of a table's topic, each accounted for as accountOffsets does (default range). */
export async function accountTopic(ch: ClickHouseClient, kafka: Kafka, names: AccountNames, listLimit = 100_000, keptMs = 0): Promise<OffsetAccount[]> {
  const partitions = await withAdmin(kafka, async (admin) => (await topicEnds(admin, names.topic)).map((p) => p.partition));
  const out: OffsetAccount[] = [];
  for (const partition of partitions.sort((a, b) => a - b)) out.push(await accountOffsets(ch, kafka, names, { partition }, listLimit, keptMs));
  return out;
}

/**
 * Account for the offsets [from, to) of one partition (default 0) of a table's topic
 * (default: everything Kafka still holds that is younger than `keptMs`, how
 * long ClickHouse keeps the change log's and kafka_errors' rows; 0 = forever).
 */
export async function accountOffsets(
  ch: ClickHouseClient,
  kafka: Kafka,
  names: AccountNames,
  range: { partition?: number; from?: bigint; to?: bigint } = {},
  listLimit = 100_000,
  keptMs = 0,
): Promise<OffsetAccount> {
  const partition = range.partition ?? 0;
  const { low, high, committed, kept } = await withAdmin(kafka, async (admin) => {
    const p = (await topicEnds(admin, names.topic)).find((o) => o.partition === partition);
    if (!p) throw new Error(`topic ${names.topic} has no partition ${partition}`);
    const c = (await committedOffsets(admin, names.group, names.topic)).get(partition) ?? -1n;
    let kept: bigint | undefined;
    if (keptMs > 0 && range.from === undefined) {
      const o = (await offsetsAtTime(admin, names.topic, Date.now() - keptMs)).get(partition) ?? p.low;
      if (o > p.low) kept = o;
    }
    return { low: p.low, high: p.high, committed: c < 0n ? p.low : c, kept };
  });
  const from = range.from ?? kept ?? low;
  const to = range.to ?? high;
  const consumedTo = committed < to ? committed : to;
  const params = { t: names.topic, p: partition, from: from.toString(), to: consumedTo.toString() };
  const inRange = 'offset >= {from:UInt64} AND offset < {to:UInt64}';
  const changelogRange = `kafka_partition = {p:UInt32} AND ${inRange.replaceAll('offset', 'kafka_offset')}`;
  const errorsTable = `${names.database}.${pipelineNames.kafkaErrorsTable}`;
  const [counts] = await chRows<{ parsed: string; errors: string }>(
    ch,
    `SELECT
       (SELECT uniqExact(kafka_offset) FROM ${names.changelog} WHERE ${changelogRange}) AS parsed,
       (SELECT uniqExact(offset) FROM ${errorsTable} WHERE topic = {t:String} AND partition = {p:UInt32} AND ${inRange}) AS errors`,
    params,
  );
  const parsed = Number(counts?.parsed ?? 0);
  const errors = Number(counts?.errors ?? 0);
  const consumed = consumedTo > from ? Number(consumedTo - from) : 0;
  const account: OffsetAccount = {
    topic: names.topic,
    partition,
    from: from.toString(),
    to: to.toString(),
    committed: committed.toString(),
    parsed,
    errors,
    skipped: consumed - parsed - errors,
    // Only offsets inside the range count, also when the group is behind its start.
    pending: to > consumedTo ? Number(to - (consumedTo > from ? consumedTo : from)) : 0,
    ...(kept !== undefined ? { expiredFrom: low.toString() } : {}),
  };
  if (account.skipped > 0 && consumed <= listLimit) {
    const seen = await chRows<{ o: string }>(
      ch,
      `SELECT toString(kafka_offset) AS o FROM ${names.changelog} WHERE ${changelogRange}
       UNION DISTINCT
       SELECT toString(offset) AS o FROM ${errorsTable} WHERE topic = {t:String} AND partition = {p:UInt32} AND ${inRange}`,
      params,
    );
    const have = new Set(seen.map((r) => r.o));
    const skippedOffsets: string[] = [];
    for (let o = from; o < consumedTo; o++) if (!have.has(o.toString())) skippedOffsets.push(o.toString());
    account.skippedOffsets = skippedOffsets;
  }
  return account;
}

export function describeAccount(a: OffsetAccount): string {
  return (
    `${a.topic}[${a.partition}] offsets ${a.from}..${a.to}: ${a.parsed} parsed into the change log, ${a.errors} in ${pipelineNames.kafkaErrorsTable}, ` +
    `${a.skipped} skipped by AvroConfluent (empty or tombstone: consumed, no row, no error), ${a.pending} not consumed yet (group at ${a.committed})` +
    (a.expiredFrom !== undefined ? `; offsets ${a.expiredFrom}..${a.from} are older than ClickHouse keeps their rows (TTL): not accounted` : '')
  );
}
