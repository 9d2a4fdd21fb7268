/**
 * Where the one-transaction UPDATE's drain goes, stage by stage, all times
 * after the Postgres commit on the one clock of this machine: Debezium's
 * first and last change (`captured_ts`, its processing time, from the change
 * log), the last message in Kafka (the first lag sample, every 250 ms, that
 * shows the topic's end at its final offset: an upper bound by one sampling
 * interval), the last change in ClickHouse (`ingested_at`), and how many
 * inserts the Kafka engine made of it (distinct `ingested_at`, ms resolution).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { BenchTable, LagSample } from './lag.ts';

export interface UpdateStages {
  /** commit -> Debezium's first change of the transaction */
  firstCapturedMs: number;
  /** commit -> Debezium's last change */
  lastCapturedMs: number;
  /** commit -> the topic's end at its final offset (first lag sample showing it) */
  allInKafkaMs: number | null;
  /** commit -> the last change inserted in ClickHouse */
  lastIngestedMs: number;
  /** inserts into the change log that carried the update's changes */
  inserts: number;
}

/**
 * `commitMs`: the commit's wall time as the bench's client saw it (Date.now()), `startMs` the
 * sampler's origin; the change log's own commit time (source.ts_ms) anchors the rest.
 */
export async function updateStages(ch: ClickHouseClient, t: BenchTable, samples: LagSample[], startMs: number): Promise<UpdateStages> {
  const rs = await ch.query({
    query: `SELECT toUnixTimestamp64Milli(any(commit_ts)) AS commit,
                   toUnixTimestamp64Milli(min(captured_ts)) AS first, toUnixTimestamp64Milli(max(captured_ts)) AS last,
                   toUnixTimestamp64Milli(max(ingested_at)) AS ingested, uniqExact(ingested_at) AS inserts
              FROM ${t.changelog} WHERE op = 'u'`,
    format: 'JSONEachRow',
  });
  const [r] = await rs.json<Record<'commit' | 'first' | 'last' | 'ingested' | 'inserts', string>>();
  const commit = Number(r!.commit);
  const end = samples.at(-1)?.kafkaEnd;
  const reached = samples.find((s) => s.kafkaEnd === end);
  return {
    firstCapturedMs: Number(r!.first) - commit,
    lastCapturedMs: Number(r!.last) - commit,
    allInKafkaMs: reached ? startMs + reached.t - commit : null,
    lastIngestedMs: Number(r!.ingested) - commit,
    inserts: Number(r!.inserts),
  };
}

export const describeStages = (s: UpdateStages): string =>
  `after commit: Debezium first change ${s.firstCapturedMs} ms, last ${s.lastCapturedMs} ms; all in Kafka by ${s.allInKafkaMs ?? '?'} ms; ` +
  `all in ClickHouse ${s.lastIngestedMs} ms (${s.inserts} inserts)`;
