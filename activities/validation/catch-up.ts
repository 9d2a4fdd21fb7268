/**
 * Waiting until ClickHouse has every change committed before the snapshot
 * watermark W. ClickHouse only sees changes of captured tables, so "caught
 * up" is proven from positions, not from ClickHouse's own versions (an idle
 * table's max version stays below W forever):
 *  - mode `slot` (a live CDC pipeline): the Debezium slot's
 *    `confirmed_flush_lsn` >= W (Debezium acknowledges an LSN only after Kafka
 *    has the events of every transaction that committed before it), then the
 *    ClickHouse Kafka consumer group has committed offsets >= the topic's end
 *    offsets read after that (the Kafka engine commits only after the
 *    materialized views have inserted the block). Both together: every change
 *    committed before the snapshot is in the ClickHouse table. On a ClickHouse
 *    cluster every shard's group must have drained the topic (each shard
 *    reads all of it: connectors/clickhouse/shard-groups.ts).
 *  - mode `version`: ClickHouse's max(version) (deleted rows included) >=
 *    `minVersion` (default W). For callers that know the LSN of the last
 *    change they need to see (e.g. the ingest run that just wrote). With a
 *    topic of several partitions it proves only the partition that carried
 *    that change: the others may still be behind (use `slot`).
 *  - mode `none`: compare as is (static copies, the benchmark).
 * Not caught up within `maxWaitMs` is the outcome `lag`, never `mismatch`.
 */
import { chRows, type ClickHouseClient } from '../../connectors/clickhouse/client.ts';
import { kafkaClient, withAdmin, type Kafka } from '../../connectors/kafka/client.ts';
import { behind as lagOf, committedOffsets, topicEnds } from '../../connectors/kafka/offsets.ts';
import { consumerGroupsOf } from '../../connectors/clickhouse/shard-groups.ts';
import { slotProblem, slotState } from '../../connectors/postgres/slots.ts';
import type pg from 'pg';
import { IngestErrorType, permanentFailure } from '../../shared/errors.ts';
import { cancelled, heartbeat } from '../heartbeat.ts';
import { chIdent } from './clickhouse-sql.ts';
import { formatLsn, lsnToBigInt } from '../../shared/lsn.ts';
import type { CatchUpSpec, ValidationSpec } from '../../shared/validation.ts';

export interface CatchUpDeps {
  pool: pg.Pool;
  clickhouse: ClickHouseClient;
  /** The pipeline's Kafka (mode `slot`; a spec that names its own brokers gets a client of its own). */
  kafka: Kafka;
  /** CLICKHOUSE_CLUSTER, when ClickHouse is a cluster: the consumer groups are one per shard. */
  endpoints?: { clickhouseCluster?: string };
}

export interface CatchUpResult {
  caughtUp: boolean;
  detail: string;
}

interface Polling {
  pollMs: number;
  deadline: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True when one more poll would pass the deadline, or the activity was cancelled. */
const outOfTime = (p: Polling): boolean => Date.now() + p.pollMs > p.deadline || cancelled();

export async function waitForCatchUp(deps: CatchUpDeps, spec: ValidationSpec, chTable: string, watermark: bigint): Promise<CatchUpResult> {
  const c = spec.catchUp;
  const polling: Polling = { pollMs: spec.pollMs ?? 250, deadline: Date.now() + (spec.maxWaitMs ?? 60_000) };
  switch (c.mode) {
    case 'none':
      return { caughtUp: true, detail: 'no wait requested (mode none)' };
    case 'version': {
      const v = spec.target.versionColumn;
      if (!v) throw permanentFailure(IngestErrorType.InvalidInput, 'catch-up mode "version" needs target.versionColumn');
      const need = c.minVersion !== undefined ? lsnToBigInt(c.minVersion) : watermark;
      return waitForVersion(deps.clickhouse, chTable, v, need, polling);
    }
    case 'slot':
      return waitForSlotAndConsumer(deps, c, watermark, polling);
  }
}

async function waitForVersion(ch: ClickHouseClient, chTable: string, v: string, need: bigint, polling: Polling): Promise<CatchUpResult> {
  let have: bigint;
  for (;;) {
    const [row] = await chRows<{ v: string }>(ch, `SELECT toString(max(${chIdent(v)})) AS v FROM ${chTable}`);
    have = BigInt(row?.v ?? '0');
    if (have >= need) return { caughtUp: true, detail: `ClickHouse max(${v}) ${formatLsn(have)} >= ${formatLsn(need)}` };
    heartbeat({ phase: 'catch-up', have: formatLsn(have), need: formatLsn(need) });
    if (outOfTime(polling)) break;
    await sleep(polling.pollMs);
  }
  return { caughtUp: false, detail: `ClickHouse max(${v}) is ${formatLsn(have)}, needs ${formatLsn(need)} (${need - have} bytes of WAL behind)` };
}

/**
 * Until Debezium has acknowledged `lsn` and the group has read every partition of the topic to its end
 * read after that (within `maxWaitMs`): every change committed before `lsn` is past the consumer.
 */
export function waitUntilConsumed(deps: CatchUpDeps, target: { slotName: string; topic: string; groupId: string }, lsn: bigint, maxWaitMs: number): Promise<CatchUpResult> {
  const spec = { mode: 'slot' as const, slotName: target.slotName, kafka: { topic: target.topic, groupId: target.groupId } };
  return waitForSlotAndConsumer(deps, spec, lsn, { pollMs: 250, deadline: Date.now() + maxWaitMs });
}

/**
 * Emits the nudge: an idle captured table gives Debezium nothing to acknowledge past W (Postgres 15's
 * pgoutput skips transactions without published changes). A transactional logical message after W is
 * a transaction that the slot streams (when the client asks for messages), so its acknowledgement
 * moves confirmed_flush_lsn past W. Best effort: without it an idle table is reported as lag.
 */
export async function nudgeSlot(pool: pg.Pool, watermark: bigint): Promise<void> {
  await pool.query(`select pg_logical_emit_message(true, 'astros-validate', $1)`, [formatLsn(watermark)]).catch(() => undefined);
}

/** Debezium has acknowledged W, then the ClickHouse consumer group has drained the topic (each partition to its end: offsets are per partition). */
async function waitForSlotAndConsumer(
  deps: CatchUpDeps,
  c: Extract<CatchUpSpec, { mode: 'slot' }>,
  watermark: bigint,
  polling: Polling,
): Promise<CatchUpResult> {
  // A slot already past W (its table streamed since, or a nudge sent earlier: resync's prepare) needs no
  // nudge: each one is a transaction Connect must acknowledge, about a second of its offset flush.
  let nudged = c.nudge === false;
  let flushed: bigint | undefined;
  for (;;) {
    const slot = await slotState(deps.pool, c.slotName);
    const problem = slotProblem(slot);
    if (problem) throw permanentFailure(IngestErrorType.ReplicationSlotLost, problem);
    flushed = slot.confirmedFlushLsn ? lsnToBigInt(slot.confirmedFlushLsn) : 0n;
    if (flushed >= watermark) break;
    if (!nudged) {
      await nudgeSlot(deps.pool, watermark);
      nudged = true;
      continue;
    }
    heartbeat({ phase: 'catch-up: slot', confirmedFlush: formatLsn(flushed), need: formatLsn(watermark) });
    if (outOfTime(polling)) {
      return {
        caughtUp: false,
        detail: `slot ${c.slotName} confirmed_flush_lsn ${formatLsn(flushed)} < ${formatLsn(watermark)} (${watermark - flushed} bytes of WAL behind${slot.active ? '' : ', slot inactive'})`,
      };
    }
    await sleep(polling.pollMs);
  }
  const slotDetail = `slot ${c.slotName} confirmed ${formatLsn(flushed)}`;
  if (!c.kafka) return { caughtUp: true, detail: `${slotDetail} (Kafka -> ClickHouse hop not checked)` };
  const drained = await waitForDrain(deps, c.kafka, polling);
  return { caughtUp: drained.caughtUp, detail: `${slotDetail}${drained.caughtUp ? '; ' : ', but '}${drained.detail}` };
}

/**
 * Until the ClickHouse consumer group(s) have committed every partition of the topic up to its end as read
 * now (within `maxWaitMs`): every message in the topic now has been inserted by the views (the Kafka engine
 * commits only after them). Says nothing about changes Kafka does not have yet (that is the slot's part).
 */
export function waitUntilDrained(deps: CatchUpDeps, kafka: { topic: string; groupId: string; brokers?: string[] }, maxWaitMs: number): Promise<CatchUpResult> {
  return waitForDrain(deps, kafka, { pollMs: 100, deadline: Date.now() + maxWaitMs });
}

async function waitForDrain(deps: CatchUpDeps, c: { topic: string; groupId: string; brokers?: string[] }, polling: Polling): Promise<CatchUpResult> {
  const { topic, groupId } = c;
  const kafka = c.brokers && c.brokers.length > 0 ? kafkaClient(c.brokers, 'astros-validate') : deps.kafka;
  const groups = await consumerGroupsOf(deps.clickhouse, deps.endpoints?.clickhouseCluster, groupId);
  return withAdmin(kafka, async (admin) => {
    const ends = await topicEnds(admin, topic);
    let behind: { group: string; lag: bigint }[];
    for (;;) {
      behind = [];
      for (const g of groups) {
        const lag = lagOf(ends, await committedOffsets(admin, g, topic)).pending;
        if (lag > 0n) behind.push({ group: g, lag });
      }
      if (behind.length === 0) return { caughtUp: true, detail: `consumer group${groups.length > 1 ? 's' : ''} ${groups.join(', ')} drained ${topic}` };
      heartbeat({ phase: 'catch-up: kafka', behind: behind.map((b) => `${b.group} ${b.lag}`).join(', ') });
      if (outOfTime(polling)) break;
      await sleep(polling.pollMs);
    }
    return { caughtUp: false, detail: `${behind.map((b) => `consumer group ${b.group} is ${b.lag} message(s) behind`).join('; ')} on ${topic}` };
  });
}
