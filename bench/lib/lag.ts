/**
 * Per-stage lag sampled while a workload runs (every `intervalMs`):
 *
 *   pg     bytes between pg_current_wal_lsn() and the bench slot's
 *          confirmed_flush_lsn (what Debezium acknowledged: advances only when
 *          Connect commits offsets) and its walsender's sent_lsn (what was read)
 *   kafka  messages between the topic's end offset and the ClickHouse
 *          consumer group's committed offset (kafkajs admin)
 *   ch     changes committed in Postgres (workload counter) minus changes
 *          applied in ClickHouse (rows in the change log, bench.bench_cdc_changelog)
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type pg from 'pg';
import type { TableNames } from '../../shared/names.ts';
import { names } from './objects.ts';
import { behind, committedOffsets, topicEnds } from '../../connectors/kafka/offsets.ts';

/** The names a bench table's lag is read from. */
export type BenchTable = Pick<TableNames, 'table' | 'topic' | 'group' | 'changelog' | 'changes' | 'current'>;

export interface LagSample {
  /** ms since the workload started */
  t: number;
  slotConfirmedBytes: number | null;
  slotSentBytes: number | null;
  kafkaEnd: number;
  kafkaCommitted: number;
  kafkaLag: number;
  committed: number;
  applied: number;
  chLag: number;
}

export async function kafkaAdmin(brokers: string[]): Promise<Admin> {
  const kafka = new Kafka({ clientId: 'astros-bench', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  return admin;
}

/** The topic's end and the group's position, summed over partitions (a partition never committed on counts from its low watermark). */
export async function kafkaPosition(admin: Admin, t: BenchTable = names): Promise<{ end: number; committed: number }> {
  const [ends, committed] = await Promise.all([topicEnds(admin, t.topic), committedOffsets(admin, t.group, t.topic)]);
  const b = behind(ends, committed);
  return { end: Number(b.end), committed: Number(b.done) };
}

export async function appliedChanges(ch: ClickHouseClient, t: BenchTable = names): Promise<number> {
  const rs = await ch.query({ query: `SELECT count() AS n FROM ${t.changelog}`, format: 'JSONEachRow' });
  const rows = await rs.json<{ n: string }>();
  return Number(rows[0]?.n ?? 0);
}

export function startLagSampler(
  deps: { pool: pg.Pool; ch: ClickHouseClient; admin: Admin },
  startMs: number,
  committed: () => number,
  baseApplied: number,
  t: BenchTable = names,
  intervalMs = 250,
): { stop: () => Promise<LagSample[]>; latest: () => LagSample | undefined } {
  const samples: LagSample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = Date.now();
      try {
        const [slot, kafka, applied] = await Promise.all([
          deps.pool.query<{ confirmed: string | null; sent: string | null }>(
            `select (pg_current_wal_lsn() - s.confirmed_flush_lsn)::text as confirmed, (pg_current_wal_lsn() - r.sent_lsn)::text as sent
               from pg_replication_slots s left join pg_stat_replication r on r.pid = s.active_pid where s.slot_name = $1`,
            [names.slot],
          ),
          kafkaPosition(deps.admin, t),
          appliedChanges(deps.ch, t),
        ]);
        const row = slot.rows[0];
        const c = committed();
        const a = applied - baseApplied;
        samples.push({
          t: t0 - startMs,
          slotConfirmedBytes: row?.confirmed == null ? null : Number(row.confirmed),
          slotSentBytes: row?.sent == null ? null : Number(row.sent),
          kafkaEnd: kafka.end,
          kafkaCommitted: kafka.committed,
          kafkaLag: kafka.end - kafka.committed,
          committed: c,
          applied: a,
          chLag: Math.max(0, c - a),
        });
      } catch {
        // a missed sample is not a reason to abort the benchmark
      }
      const wait = intervalMs - (Date.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    latest: () => samples.at(-1),
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}
