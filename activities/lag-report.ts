/**
 * Replication lag, end to end, at one moment:
 *   Postgres    current WAL LSN vs the Debezium slot's confirmed flush LSN, and
 *               the WAL the slot forces Postgres to keep (current - restart_lsn);
 *               the connector heartbeat's last write (cdc_heartbeat)
 *   Kafka       each captured topic's end offsets vs the ClickHouse consumer
 *               group's committed offsets
 *   ClickHouse  the newest source LSN applied to each current-state table
 *               (max(version)) and its commit time
 *
 *   npm run lag [-- --profile test] [--json]
 *
 * A lost or missing replication slot is the first line (`FAILED: …`, with the
 * fix) and the exit status (4, as validation's for the same failure).
 *
 * One row per active table of the live catalog. Addresses come from the
 * native stack of --profile; DATABASE_URL, KAFKA_BROKERS, CLICKHOUSE_URL,
 * CLICKHOUSE_KAFKA_GROUP_PREFIX (or --postgres-url) override them. The
 * Postgres URL must point at the captured database (for cdc_heartbeat);
 * pg_replication_slots and pg_current_wal_lsn() need no superuser.
 */
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { Kafka, logLevel } from 'kafkajs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { slotProblem, slotWarning } from './slot-health.ts';
import { formatLsn } from '../shared/lsn.ts';
import { pipelineNames, tableNames } from '../shared/names.ts';
import { activeTables } from '../catalog/store.ts';
import { config } from '../config/load.ts';

export interface LagTable {
  /** Kafka topic Debezium writes. */
  topic: string;
  /** ClickHouse Kafka-engine consumer group. */
  group: string;
  /** ClickHouse current-state table (ReplacingMergeTree with `version` = LSN). */
  table: string;
}

/** The lag report's rows: one per active table of the live catalog. */
export async function lagTables(db: pg.Client, groupPrefix: string): Promise<LagTable[]> {
  return (await activeTables(db)).map((d) => {
    const n = tableNames(d.source, { groupPrefix });
    return { topic: n.topic, group: n.group, table: n.current };
  });
}

export interface LagOptions {
  postgresUrl: string;
  kafkaBrokers: string[];
  clickhouseUrl: string;
  /** ClickHouse consumer group prefix (CLICKHOUSE_KAFKA_GROUP_PREFIX). */
  groupPrefix: string;
  slot?: string;
  /** Default: every active table of the live catalog. */
  tables?: LagTable[];
}

export interface LagReport {
  at: string;
  postgres: {
    currentLsn: string;
    slot: string;
    slotFound: boolean;
    active: boolean | null;
    confirmedFlushLsn: string | null;
    /** current - confirmed_flush: WAL written that the connector has not confirmed. */
    flushLagBytes: number | null;
    /** current - restart_lsn: WAL Postgres keeps on disk for this slot. */
    retainedWalBytes: number | null;
    walStatus: string | null;
    lastHeartbeat: string | null;
  };
  kafka: { topic: string; group: string; endOffset: number; committedOffset: number; lag: number }[];
  clickhouse: { table: string; newestLsn: string | null; newestCommit: string | null; rows: number }[];
}

export async function lagReport(opts: LagOptions): Promise<LagReport> {
  const slot = opts.slot ?? pipelineNames.slot;
  const pgClient = new pg.Client({ connectionString: opts.postgresUrl, application_name: 'astros-lag' });
  pgClient.on('error', () => undefined); // a lost connection fails the query in flight; unheard, the event would end the monitor
  await pgClient.connect();
  let postgres: LagReport['postgres'];
  let tables: LagTable[];
  try {
    tables = opts.tables ?? (await lagTables(pgClient, opts.groupPrefix));
    const { rows } = await pgClient.query<{ current: string; active: boolean | null; confirmed: string | null; flush_lag: string | null; retained: string | null; wal_status: string | null }>(
      `select pg_current_wal_lsn()::text as current, s.active, s.confirmed_flush_lsn::text as confirmed,
              pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint::text as flush_lag,
              pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint::text as retained,
              s.wal_status
         from (select 1) one left join pg_replication_slots s on s.slot_name = $1`,
      [slot],
    );
    const r = rows[0]!;
    // The heartbeat table lives in the database the connector reads (public schema).
    const hb = await pgClient
      .query<{ beat_at: string }>(`select beat_at::text from ${pipelineNames.heartbeatTable} where id = 1`)
      .then((x) => x.rows[0]?.beat_at ?? null)
      .catch(() => null);
    postgres = {
      currentLsn: r.current,
      slot,
      slotFound: r.confirmed !== null || r.active !== null,
      active: r.active,
      confirmedFlushLsn: r.confirmed,
      flushLagBytes: r.flush_lag === null ? null : Number(r.flush_lag),
      retainedWalBytes: r.retained === null ? null : Number(r.retained),
      walStatus: r.wal_status,
      lastHeartbeat: hb,
    };
  } finally {
    await pgClient.end();
  }

  const kafka = new Kafka({ clientId: 'astros-lag', brokers: opts.kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const kafkaRows: LagReport['kafka'] = [];
  try {
    const existing = new Set(await admin.listTopics());
    for (const t of tables) {
      if (!existing.has(t.topic)) {
        kafkaRows.push({ topic: t.topic, group: t.group, endOffset: 0, committedOffset: 0, lag: 0 });
        continue;
      }
      const ends = await admin.fetchTopicOffsets(t.topic);
      const committed = (await admin.fetchOffsets({ groupId: t.group, topics: [t.topic] }))[0]?.partitions ?? [];
      let end = 0;
      let done = 0;
      for (const p of ends) {
        const high = Number(p.high);
        const c = Number(committed.find((x) => x.partition === p.partition)?.offset ?? -1);
        // -1: the group has committed nothing on this partition; everything from the low watermark is pending.
        end += high;
        done += c >= 0 ? c : Number(p.low);
      }
      kafkaRows.push({ topic: t.topic, group: t.group, endOffset: end, committedOffset: done, lag: end - done });
    }
  } finally {
    await admin.disconnect();
  }

  const ch = createClient({ url: opts.clickhouseUrl, request_timeout: 30_000, log: { level: ClickHouseLogLevel.OFF } });
  const chRows: LagReport['clickhouse'] = [];
  try {
    for (const t of tables) {
      const rs = await ch.query({
        query: `SELECT toString(max(version)) AS v, toString(argMax(commit_ts, version)) AS c, count() AS n FROM ${t.table}`,
        format: 'JSONEachRow',
      });
      const [row] = await rs.json<{ v: string; c: string; n: string }>();
      const n = Number(row?.n ?? 0);
      chRows.push({ table: t.table, newestLsn: n > 0 && row ? formatLsn(row.v) : null, newestCommit: n > 0 && row ? `${row.c}Z` : null, rows: n });
    }
  } finally {
    await ch.close();
  }
  return { at: new Date().toISOString(), postgres, kafka: kafkaRows, clickhouse: chRows };
}

function bytes(n: number | null): string {
  if (n === null) return 'n/a';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** The replication slot's failure (lost or missing), or undefined: what makes the report's first line FAILED. */
export function lagFailure(r: LagReport): string | undefined {
  const p = r.postgres;
  return slotProblem({ slot: p.slot, found: p.slotFound, walStatus: p.walStatus, active: p.active });
}

export function formatLagReport(r: LagReport): string {
  const p = r.postgres;
  const failure = lagFailure(r);
  // A lost or missing slot is the headline: nothing below it streams until it is recovered.
  const lines = [...(failure ? [`FAILED: ${failure}`] : []), `lag report at ${r.at}`, `postgres    current LSN ${p.currentLsn}`];
  const problem = failure ? undefined : slotWarning({ slot: p.slot, found: p.slotFound, walStatus: p.walStatus, active: p.active });
  if (!p.slotFound) {
    lines.push(`            slot ${p.slot}: NOT FOUND (connector never started, or the slot was dropped)`);
  } else {
    lines.push(
      `            slot ${p.slot} ${p.active ? 'active' : 'INACTIVE'}, confirmed flush ${p.confirmedFlushLsn} (${bytes(p.flushLagBytes)} behind), ` +
        `WAL retained ${bytes(p.retainedWalBytes)}, wal_status ${p.walStatus}`,
    );
  }
  if (problem) lines.push(`            ${problem}`);
  lines.push(`            last connector heartbeat ${p.lastHeartbeat ?? 'never (heartbeat.action.query not running?)'}`);
  for (const k of r.kafka) lines.push(`kafka       ${k.topic} -> group ${k.group}: end ${k.endOffset}, committed ${k.committedOffset}, lag ${k.lag}`);
  for (const c of r.clickhouse) lines.push(`clickhouse  ${c.table}: newest LSN applied ${c.newestLsn ?? 'none'} (commit ${c.newestCommit ?? 'n/a'}), ${c.rows} rows before merges`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { Command, Option } = await import('commander');
  const program = new Command('lag')
    .description('Replication lag: Postgres WAL vs the Debezium slot, Kafka end offsets vs the ClickHouse consumers, newest LSN applied in ClickHouse')
    .addOption(new Option('-p, --profile <profile>', 'native stack whose addresses to use').choices(['dev', 'test']).default('dev'))
    .option('--slot <name>', 'replication slot', pipelineNames.slot)
    .option('--postgres-url <url>', 'connection string of the captured database (default: DATABASE_URL)')
    .option('--json', 'machine-readable output')
    .parse();
  const opts = program.opts<{ profile: 'dev' | 'test'; slot: string; postgresUrl?: string; json?: boolean }>();
  const e = config(opts.profile);
  const report = await lagReport({
    postgresUrl: opts.postgresUrl ?? e.databaseUrl,
    kafkaBrokers: e.kafkaBrokers,
    clickhouseUrl: e.clickhouseUrl,
    groupPrefix: e.groupPrefix,
    slot: opts.slot,
  });
  console.log(opts.json ? JSON.stringify({ ...report, failure: lagFailure(report) ?? null }, null, 2) : formatLagReport(report));
  // Scripts see it too: the status validation gives the same failure.
  if (lagFailure(report)) process.exitCode = 4;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((err: unknown) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
