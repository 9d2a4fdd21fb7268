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
 *    committed before the snapshot is in the ClickHouse table.
 *  - mode `version`: ClickHouse's max(version) (deleted rows included) >=
 *    `minVersion` (default W). For callers that know the LSN of the last
 *    change they need to see (e.g. the ingest run that just wrote).
 *  - mode `none`: compare as is (static copies, the benchmark).
 * Not caught up within `maxWaitMs` is the outcome `lag`, never `mismatch`.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { Kafka, logLevel as kafkaLogLevel } from 'kafkajs';
import type pg from 'pg';
import { IngestErrorType, permanentFailure } from '../../shared/errors.ts';
import { cancelled, heartbeat } from '../heartbeat.ts';
import { chIdent, chRows } from './clickhouse-sql.ts';
import { formatLsn, lsnToBigInt } from '../../shared/lsn.ts';
import { slotProblem } from '../../pipeline/slot-health.ts';
import type { CatchUpSpec, ValidationSpec } from '../../shared/validation.ts';

export interface CatchUpDeps {
  pool: pg.Pool;
  clickhouse: ClickHouseClient;
  /** Default Kafka brokers for mode `slot`. */
  kafkaBrokers?: string[];
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

/** Debezium has acknowledged W, then the ClickHouse consumer group has drained the topic. */
async function waitForSlotAndConsumer(
  deps: CatchUpDeps,
  c: Extract<CatchUpSpec, { mode: 'slot' }>,
  watermark: bigint,
  polling: Polling,
): Promise<CatchUpResult> {
  if (c.nudge !== false) {
    // An idle captured table gives Debezium nothing to acknowledge past W (Postgres 15's pgoutput skips
    // transactions without published changes). A transactional logical message after the snapshot is
    // a transaction that the slot streams (when the client asks for messages), so its acknowledgement
    // moves confirmed_flush_lsn past W. Best effort: without it an idle table is reported as lag.
    await deps.pool.query(`select pg_logical_emit_message(true, 'astros-validate', $1)`, [formatLsn(watermark)]).catch(() => undefined);
  }
  let flushed: bigint | undefined;
  for (;;) {
    const { rows } = await deps.pool.query<{ lsn: string | null; active: boolean; wal_status: string | null }>(
      'select confirmed_flush_lsn::text as lsn, active, wal_status from pg_replication_slots where slot_name = $1',
      [c.slotName],
    );
    const row = rows[0];
    const problem = slotProblem({ slot: c.slotName, found: row !== undefined, walStatus: row?.wal_status ?? null, active: row?.active ?? null });
    if (problem || !row) throw permanentFailure(IngestErrorType.ReplicationSlotLost, problem ?? `replication slot ${c.slotName} does not exist`);
    flushed = row.lsn ? lsnToBigInt(row.lsn) : 0n;
    if (flushed >= watermark) break;
    heartbeat({ phase: 'catch-up: slot', confirmedFlush: formatLsn(flushed), need: formatLsn(watermark) });
    if (outOfTime(polling)) {
      return {
        caughtUp: false,
        detail: `slot ${c.slotName} confirmed_flush_lsn ${formatLsn(flushed)} < ${formatLsn(watermark)} (${watermark - flushed} bytes of WAL behind${row.active ? '' : ', slot inactive'})`,
      };
    }
    await sleep(polling.pollMs);
  }
  const slotDetail = `slot ${c.slotName} confirmed ${formatLsn(flushed)}`;
  if (!c.kafka) return { caughtUp: true, detail: `${slotDetail} (Kafka -> ClickHouse hop not checked)` };
  const brokers = c.kafka.brokers ?? deps.kafkaBrokers;
  if (!brokers || brokers.length === 0) throw permanentFailure(IngestErrorType.InvalidInput, 'catch-up mode "slot" with kafka needs brokers');
  const admin = new Kafka({ clientId: 'astros-validate', brokers, logLevel: kafkaLogLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(c.kafka.topic);
    let behind = 0n;
    for (;;) {
      const [committed] = await admin.fetchOffsets({ groupId: c.kafka.groupId, topics: [c.kafka.topic] });
      const byPartition = new Map((committed?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
      behind = 0n;
      for (const e of ends) {
        const done = byPartition.get(e.partition) ?? -1n;
        const high = BigInt(e.high);
        if (done < high) behind += high - (done < 0n ? BigInt(e.low) : done);
      }
      if (behind === 0n) return { caughtUp: true, detail: `${slotDetail}; consumer group ${c.kafka.groupId} drained ${c.kafka.topic}` };
      heartbeat({ phase: 'catch-up: kafka', behind: behind.toString() });
      if (outOfTime(polling)) break;
      await sleep(polling.pollMs);
    }
    return { caughtUp: false, detail: `${slotDetail}, but consumer group ${c.kafka.groupId} is ${behind} message(s) behind on ${c.kafka.topic}` };
  } finally {
    await admin.disconnect();
  }
}
