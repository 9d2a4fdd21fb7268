/**
 * Topic fuzzing on the self-test table's CDC topic (public.cdc_types_probe,
 * captured through the catalog by the global setup): 1,000 seeded malformed
 * messages (random bytes, truncated Avro, unknown schema ids, wrong magic
 * bytes, bare headers, text, empty messages, tombstones) plus messages at the
 * broker's size limit, between real changes (the template of the Avro
 * kinds is a valid message of the registered schema, test/fuzz/avro.ts). Every one is accounted for by
 * offset (activities/dead-letters/topic-accounting.ts): a row in astros.kafka_errors, or
 * "skipped" (empty/tombstone: AvroConfluent skips them without an error, so
 * they are counted as consumed offsets without a row), or refused by the
 * broker; the stream keeps flowing and validation finds ClickHouse equal to
 * Postgres. The probe's topic has 3 partitions (test/test-tables.ts): the fuzz
 * goes to partition 0, the real changes to whichever partition their key
 * hashes to, and offsets are accounted partition by partition. Then `dead-letters replay` of kafka_errors: a message whose
 * schema id was unknown is replayed after the id is registered, and lands;
 * a second replay changes nothing.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTable } from '../../activities/validation/compare-table.ts';
import { tableNames } from '../../shared/names.ts';
import { accountOffsets, accountTopic, describeAccount } from '../../activities/dead-letters/topic-accounting.ts';
import { replayKafkaErrors } from '../../activities/dead-letters/replay-kafka-errors.ts';
import { withAdmin } from '../../connectors/kafka/client.ts';
import { topicEnds } from '../../connectors/kafka/offsets.ts';
import { confluentMessage } from '../fuzz/avro.ts';
import { topicCorpus, type TopicMessage } from '../fuzz/topic-corpus.ts';
import { chRows, clickhouse, postgres, requireEnv, runCommand, testEndpoints, uniqueTag, waitFor, testKafka } from './helpers.ts';

const SEED = 7_331;
const MESSAGES = 1_000;
/** Kafka's default message.max.bytes (the native stack keeps it): a batch of one record this large fits, one byte more does not. */
const BROKER_LIMIT = 1_048_588;
const SOURCE = 'public.cdc_types_probe';

const tag = uniqueTag('topicfuzz');
let ch: ClickHouseClient;
let pool: pg.Pool;
let kafka: Kafka;
const names = tableNames(SOURCE, { groupPrefix: testEndpoints().groupPrefix });

/** The change-log offset of a probe row once ClickHouse has it. */
async function landedOffset(key: string): Promise<string> {
  const rows = await waitFor(
    () => chRows<{ o: string }>(ch, `SELECT toString(kafka_offset) AS o FROM ${names.changelog} WHERE probe_key = {k:String}`, { k: key }),
    (r) => r.length > 0,
    `probe row ${key} in ClickHouse`,
  );
  return rows[0]!.o;
}

/**
 * A valid message of the topic's registered value schema for the probe row
 * `key` as Postgres has it, at version (LSN) 1: if it ever lands, the real
 * change (a higher LSN) still wins in the current state.
 */
async function templateMessage(key: string): Promise<Buffer> {
  const latest = (await (await fetch(`${testEndpoints().registryCcompatUrl}/subjects/${names.topic}-value/versions/latest`)).json()) as { id: number; schema: string };
  const { rows } = await pool.query<Record<string, unknown>>(`select probe_key, label, counter from ${SOURCE} where probe_key = $1`, [key]);
  return confluentMessage(latest.id, latest.schema, { ...rows[0], __op: 'c', __lsn: 1, __source_ts_ms: Date.now(), __ts_ms: Date.now(), __deleted: 'false' });
}

async function registerCopy(ccompat: string, schema: string, n: number): Promise<number> {
  const doc = JSON.parse(schema) as Record<string, unknown>;
  const res = await fetch(`${ccompat}/subjects/${tag}-replay-value/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: JSON.stringify({ ...doc, doc: `topic fuzz replay ${tag} ${n}` }) }),
  });
  if (!res.ok) throw new Error(`registering a schema: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: number }).id;
}

/** validatePipeline's comparison of the probe table (caught up to a Postgres snapshot LSN, value by value). */
async function validateProbe(): Promise<string> {
  const deps = { pool, clickhouse: ch, kafka: testKafka(), endpoints: testEndpoints() };
  const report = await compareTable(deps, { table: SOURCE, reportKey: uniqueTag(tag) });
  return report.outcome;
}

beforeAll(async () => {
  ch = clickhouse();
  pool = postgres();
  kafka = new Kafka({ clientId: tag, brokers: requireEnv('KAFKA_BROKERS').split(','), logLevel: logLevel.NOTHING });
});

afterAll(async () => {
  await pool?.query(`delete from ${SOURCE} where probe_key like $1`, [`${tag}%`]).catch(() => undefined);
  await pool?.end();
  await ch?.close();
  await fetch(`${testEndpoints().registryCcompatUrl}/subjects/${tag}-replay-value?permanent=false`, { method: 'DELETE' }).catch(() => undefined);
});

describe('topic fuzzing', () => {
  let realMessage: Buffer;
  let realKey: string;

  it(`${MESSAGES} malformed messages and messages at the broker's size limit: every one accounted for, the stream flows, validation agrees`, { timeout: 170_000 }, async () => {
    realKey = `${tag}_real`;
    await pool.query(`insert into ${SOURCE} (probe_key, label, counter) values ($1, 'the template message', 1)`, [realKey]);
    await landedOffset(realKey);
    realMessage = await templateMessage(realKey);
    expect(realMessage[0]).toBe(0);

    const corpus = topicCorpus(SEED, MESSAGES, realMessage, { count: 3, bytes: BROKER_LIMIT - 200 });
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const sent: { offset: bigint; m: TopicMessage }[] = [];
    let refused = 0;
    let flowRows = 0;
    let start: bigint | undefined;
    try {
      for (let i = 0; i < corpus.length; i += 50) {
        const batch = corpus.slice(i, i + 50);
        // One batch per send keeps the records in order at consecutive offsets.
        for (const m of batch) {
          const [meta] = await producer.send({ topic: names.topic, acks: -1, messages: [{ value: m.value, partition: 0 }] });
          const offset = BigInt(meta!.baseOffset!);
          start ??= offset;
          sent.push({ offset, m });
        }
        // A real change now and then: the stream must keep flowing between the bad ones.
        if (i % 250 === 0) {
          await pool.query(`insert into ${SOURCE} (probe_key, counter) values ($1, $2)`, [`${tag}_flow_${i}`, i]);
          flowRows += 1;
        }
      }
      // One byte over the limit: the broker refuses it (nothing reaches the topic).
      await producer
        .send({ topic: names.topic, acks: -1, messages: [{ value: Buffer.alloc(BROKER_LIMIT + 1, 1), partition: 0 }] })
        .then(() => undefined, () => (refused += 1));
    } finally {
      await producer.disconnect();
    }
    const last = `${tag}_after`;
    await pool.query(`insert into ${SOURCE} (probe_key, label) values ($1, 'after the fuzz')`, [last]);
    await landedOffset(last);
    // Partition 0's end once the stream has moved past the fuzz (real changes may land on it too).
    const end = (await withAdmin(kafka, (admin) => topicEnds(admin, names.topic))).find((p) => p.partition === 0)!.high;

    const account = await waitFor(
      () => accountOffsets(ch, kafka, names, { from: start!, to: end }),
      (a) => a.pending === 0 && a.parsed + a.errors + a.skipped === Number(end - start!),
      'every offset consumed',
      120_000,
      1_000,
    );
    const errorOffsets = new Set(
      (
        await chRows<{ o: string }>(ch, `SELECT DISTINCT toString(offset) AS o FROM astros.kafka_errors WHERE topic = {t:String} AND partition = 0 AND offset >= {a:UInt64} AND offset < {b:UInt64}`, {
          t: names.topic,
          a: start!.toString(),
          b: end.toString(),
        })
      ).map((r) => r.o),
    );
    const skipped = new Set(account.skippedOffsets ?? []);
    const wrong = sent.filter(({ offset, m }) => (m.expect === 'error' ? !errorOffsets.has(offset.toString()) : !skipped.has(offset.toString())));
    const accounted = sent.length - wrong.length + refused;
    console.log(describeAccount(account));
    console.log(`topic fuzz (seed ${SEED}): messages tried ${sent.length + 1}, accounted for ${accounted} (kafka_errors ${errorOffsets.size}, skipped empty/tombstone ${skipped.size}, refused by the broker ${refused})`);
    expect(wrong.map(({ offset, m }) => `${offset} ${m.kind}`)).toEqual([]);
    expect(refused).toBe(1);
    // Only the real changes parsed: nothing malformed became a row.
    const parsedKeys = await chRows<{ k: string }>(ch, `SELECT DISTINCT kafka_offset, probe_key AS k FROM ${names.changelog} WHERE kafka_partition = 0 AND kafka_offset >= {a:UInt64} AND kafka_offset < {b:UInt64}`, {
      a: start!.toString(),
      b: end.toString(),
    });
    expect(parsedKeys.length).toBe(account.parsed);
    expect(parsedKeys.filter((r) => !r.k.startsWith(tag))).toEqual([]);
    // Every real change landed, on whichever partition its key hashes to.
    const landedKeys = await chRows<{ n: string }>(ch, `SELECT uniqExact(probe_key) AS n FROM ${names.changelog} WHERE startsWith(probe_key, {p:String})`, { p: `${tag}_` });
    expect(Number(landedKeys[0]!.n)).toBe(flowRows + 2);
    // Every partition accounted for on its own: consumed to its end, each offset once.
    const all = await waitFor(() => accountTopic(ch, kafka, names, 0), (as) => as.every((a) => a.pending === 0), 'every partition consumed', 60_000, 1_000);
    for (const a of all) console.log(describeAccount(a));
    expect(all.map((a) => a.partition)).toEqual([0, 1, 2]);
    for (const a of all) expect(a.skipped, describeAccount(a)).toBeGreaterThanOrEqual(0);

    expect(await validateProbe()).toBe('agree');
  });

  it('dead-letters replay: a message whose schema id was unknown lands once the id is registered; a second replay changes nothing', { timeout: 120_000 }, async () => {
    const ccompat = testEndpoints().registryCcompatUrl;
    const realId = realMessage.readUInt32BE(1);
    const schema = ((await (await fetch(`${ccompat}/schemas/ids/${realId}`)).json()) as { schema: string }).schema;
    // The next id the registry will hand out: one past a fresh registration.
    const nextId = (await registerCopy(ccompat, schema, 1)) + 1;
    const poison = Buffer.from(realMessage);
    poison.writeUInt32BE(nextId, 1);
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const [meta] = await producer.send({ topic: names.topic, messages: [{ value: poison, partition: 0 }] });
    await producer.disconnect();
    const offset = meta!.baseOffset!;
    await waitFor(
      () => chRows(ch, `SELECT 1 FROM astros.kafka_errors WHERE topic = {t:String} AND partition = 0 AND offset = {o:UInt64}`, { t: names.topic, o: offset }),
      (r) => r.length > 0,
      'the unknown-id message in kafka_errors',
    );

    // The fix: the schema behind that id now exists.
    expect(await registerCopy(ccompat, schema, 2)).toBe(nextId);
    const filter = { topic: names.topic, partition: 0, offsets: [offset] };
    const dry = await replayKafkaErrors({ ch, kafka, pool }, { ...filter, dryRun: true });
    expect(dry.map((i) => i.item)).toEqual([`${names.topic}/0/${offset}`]);
    const first = await replayKafkaErrors({ ch, kafka, pool }, { ...filter, dryRun: false });
    expect(first).toHaveLength(1);
    const newOffset = first[0]!.result!.split('/').at(-1)!;
    const landed = await waitFor(
      () => chRows<{ k: string }>(ch, `SELECT probe_key AS k FROM ${names.changelog} WHERE kafka_partition = 0 AND kafka_offset = {o:UInt64}`, { o: newOffset }),
      (r) => r.length > 0,
      'the replayed message in the change log',
    );
    expect(landed[0]!.k).toBe(realKey);
    const recorded = await pool.query(`select outcome, result from dead_letter_replays where source = 'kafka_errors' and item = $1`, [first[0]!.item]);
    expect(recorded.rows).toEqual([{ outcome: 'applied', result: first[0]!.result }]);
    expect(await replayKafkaErrors({ ch, kafka, pool }, { ...filter, dryRun: false })).toEqual([]);
    // The CLI says the same: what was replayed, and every offset of the topic accounted for.
    const cli = await runCommand('node', ['--import', 'tsx', 'cli/astros.ts', 'dead-letters', 'replay', '--source', 'kafka', '--topic', names.topic, '--partition', '0', '--offset', offset]);
    expect(cli.text).toContain('nothing to replay');
    const list = await runCommand('node', ['--import', 'tsx', 'cli/astros.ts', 'dead-letters', 'list', '--source', 'kafka', '--topic', names.topic, '--limit', '1']);
    expect(list.code).toBe(0);
    expect(list.text).toMatch(/skipped by AvroConfluent \(empty or tombstone/);
    expect(await validateProbe()).toBe('agree');
  });
});
