/**
 * Replication lag, end to end, at one moment:
 *   Postgres    current WAL LSN vs the Debezium slot's confirmed flush LSN, and
 *               the WAL the slot forces Postgres to keep (current - restart_lsn);
 *               the connector heartbeat's last write (cdc_heartbeat)
 *   Kafka       each captured topic's end offsets vs the ClickHouse consumer
 *               group's committed offsets, partition by partition (the lag is
 *               the sum of each partition's shortfall: offsets are per partition);
 *               on a ClickHouse cluster one group per shard, each reading the
 *               whole topic: a table's lag is its worst shard's, each shown
 *   ClickHouse  the newest source LSN applied to each current-state table
 *               (max(version)) and its commit time (on a cluster through the
 *               Distributed table, which keeps the name: every shard)
 *
 * The command: `npm run lag` (cli/lag.ts).
 *
 * A lost or missing replication slot is the first line (`FAILED: …`, with the
 * fix) and the exit status (4, as validation's for the same failure).
 *
 * One row per active table of the live catalog, and one slot line per table
 * group (its own slot, connector and heartbeat: shared/names.ts groupNames).
 * Postgres must be the captured database (for the heartbeat tables);
 * pg_replication_slots and pg_current_wal_lsn() need no superuser.
 */
import { activeTables, groupsOf } from '../catalog/store.ts';
import { chRows, type ClickHouseClient } from '../connectors/clickhouse/client.ts';
import { withAdmin, type Kafka } from '../connectors/kafka/client.ts';
import { behind, committedOffsets, topicEnds, type PartitionEnds } from '../connectors/kafka/offsets.ts';
import { consumerGroupsOf } from '../connectors/clickhouse/shard-groups.ts';
import { shardGroup } from '../catalog/cluster-shape.ts';
import type { Queryable } from '../connectors/postgres/pool.ts';
import { groupSource } from '../connectors/postgres/sources.ts';
import { slotPosition, slotProblem, slotWarning, type SlotPosition } from '../connectors/postgres/slots.ts';
import { formatLsn } from '../shared/lsn.ts';
import { groupNames, tableNames } from '../shared/names.ts';

export interface LagTable {
  /** Kafka topic Debezium writes. */
  topic: string;
  /** ClickHouse Kafka-engine consumer group. */
  group: string;
  /** ClickHouse current-state table (ReplacingMergeTree with `version` = LSN). */
  table: string;
}

/** The lag report's rows: one per active table of the live catalog. */
export async function lagTables(db: Queryable, groupPrefix: string): Promise<LagTable[]> {
  return (await activeTables(db)).map((d) => {
    const n = tableNames(d.source, { groupPrefix });
    return { topic: n.topic, group: n.group, table: n.current };
  });
}

/** Where the report reads: the captured database, Kafka, ClickHouse. */
export interface LagClients {
  db: Queryable;
  kafka: Kafka;
  clickhouse: ClickHouseClient;
}

export interface LagOptions {
  /** ClickHouse consumer group prefix (CLICKHOUSE_KAFKA_GROUP_PREFIX). */
  groupPrefix: string;
  /** Report this slot only (default: every group's). */
  slot?: string;
  /** Default: every active table of the live catalog. */
  tables?: LagTable[];
  /** The groups reading a source database of their own (ASTROS_GROUP_DATABASES): their slot and heartbeat are read there. */
  groupDatabases?: Record<string, string>;
  /** CLICKHOUSE_CLUSTER: the consumer groups are one per shard (`<group>-shard<n>`). */
  clickhouseCluster?: string;
}

/** One table group's slot against the server's WAL, its connector's last heartbeat, its tables. */
export type GroupLag = SlotPosition & { group: string; connector: string; lastHeartbeat: string | null; tables: string[]; database?: string };

/** One partition of a topic: its end, the group's committed offset (its low watermark where it committed nothing), what it still has to read. */
export interface PartitionLag {
  partition: number;
  endOffset: number;
  committedOffset: number;
  lag: number;
}

/** One consumer group's position on a topic: committed offsets summed, what every partition still has to read, per partition. */
export interface GroupOffsets {
  group: string;
  committedOffset: number;
  lag: number;
  byPartition: PartitionLag[];
}

/**
 * A topic against its ClickHouse consumers: the one group's position, or on a cluster the worst shard's
 * (group says `<group>-shard{shard}`) with every shard's in `shards`.
 */
export type KafkaLag = GroupOffsets & { topic: string; partitions: number; endOffset: number; shards?: GroupOffsets[] };

/** One group's offsets against the topic's ends. */
export function groupOffsets(group: string, ends: PartitionEnds[], committed: Map<number, bigint>): GroupOffsets {
  const b = behind(ends, committed);
  return { group, committedOffset: Number(b.done), lag: Number(b.pending), byPartition: b.partitions.map((p) => ({ partition: p.partition, endOffset: Number(p.end), committedOffset: Number(p.done), lag: Number(p.pending) })) };
}

/** A topic's row: its one group, or every shard's group with the worst (most behind) as the table's lag. */
export function topicLag(topic: string, group: string, ends: PartitionEnds[], groups: GroupOffsets[], cluster: boolean): KafkaLag {
  const endOffset = Number(behind(ends, new Map()).end);
  const worst = groups.reduce((a, b) => (b.lag > a.lag ? b : a));
  if (!cluster) return { topic, partitions: ends.length, endOffset, ...worst };
  return { topic, partitions: ends.length, endOffset, ...worst, group: shardGroup(group), shards: groups };
}

export interface LagReport {
  at: string;
  /** The first group's (the default group's, or the slot asked for). */
  postgres: SlotPosition & { lastHeartbeat: string | null };
  /** Every group's slot, the default group first (absent: the one slot in postgres). */
  groups?: GroupLag[];
  /** End and committed offsets summed over the topic's partitions; lag: what every partition still has to read; byPartition: the same per partition. */
  kafka: KafkaLag[];
  clickhouse: { table: string; newestLsn: string | null; newestCommit: string | null; rows: number }[];
}

export async function lagReport(c: LagClients, opts: LagOptions): Promise<LagReport> {
  const tables = opts.tables ?? (await lagTables(c.db, opts.groupPrefix));
  const captured = await activeTables(c.db).catch(() => []);
  const groups: GroupLag[] = [];
  for (const [group, decls] of groupsOf(captured.map((declaration) => ({ declaration })))) {
    const g = groupNames(group);
    if (opts.slot !== undefined && opts.slot !== g.slot) continue;
    // The heartbeat tables live in the database the group's connector reads (public schema).
    const db = groupSource(opts, group, c.db);
    const own = opts.groupDatabases?.[group];
    const lastHeartbeat = await db
      .query<{ beat_at: string }>(
        g.heartbeatRow === undefined ? `select beat_at::text from ${g.heartbeatTable} where id = 1` : `select beat_at::text from ${g.heartbeatTable} where group_name = $1`,
        g.heartbeatRow === undefined ? [] : [g.heartbeatRow],
      )
      .then((x) => x.rows[0]?.beat_at ?? null)
      .catch(() => null);
    const database = own === undefined ? undefined : decodeURIComponent(new URL(own).pathname.slice(1));
    groups.push({ ...(await slotPosition(db, g.slot)), group, connector: g.connector, lastHeartbeat, tables: decls.map((d) => d.declaration.source), ...(database ? { database } : {}) });
  }
  // A slot of no group (--slot of a bench's or test's connector): reported alone.
  if (groups.length === 0) groups.push({ ...(await slotPosition(c.db, opts.slot!)), group: '-', connector: '-', lastHeartbeat: null, tables: [] });
  const { group: _g, connector: _c, tables: _t, ...postgres } = groups[0]!;

  const kafka = await withAdmin(c.kafka, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const rows: LagReport['kafka'] = [];
    for (const t of tables) {
      if (!existing.has(t.topic)) {
        rows.push({ topic: t.topic, group: t.group, partitions: 0, endOffset: 0, committedOffset: 0, lag: 0, byPartition: [] });
        continue;
      }
      const ends = await topicEnds(admin, t.topic);
      const groups = await consumerGroupsOf(c.clickhouse, opts.clickhouseCluster, t.group);
      const offsets: GroupOffsets[] = [];
      for (const g of groups) offsets.push(groupOffsets(g, ends, await committedOffsets(admin, g, t.topic)));
      rows.push(topicLag(t.topic, t.group, ends, offsets, opts.clickhouseCluster !== undefined));
    }
    return rows;
  });

  const clickhouse: LagReport['clickhouse'] = [];
  for (const t of tables) {
    const [row] = await chRows<{ v: string; c: string; n: string }>(c.clickhouse, `SELECT toString(max(version)) AS v, toString(argMax(commit_ts, version)) AS c, count() AS n FROM ${t.table}`);
    const n = Number(row?.n ?? 0);
    clickhouse.push({ table: t.table, newestLsn: n > 0 && row ? formatLsn(row.v) : null, newestCommit: n > 0 && row ? `${row.c}Z` : null, rows: n });
  }
  return { at: new Date().toISOString(), postgres, groups, kafka, clickhouse };
}

function bytes(n: number | null): string {
  if (n === null) return 'n/a';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** A group's slot failure (lost or missing), or undefined. */
export const groupFailure = (p: SlotPosition): string | undefined => slotProblem({ slot: p.slot, found: p.slotFound, walStatus: p.walStatus, active: p.active });

/** The first failing slot's failure (lost or missing), or undefined: what makes the report's first line FAILED. */
export function lagFailure(r: LagReport): string | undefined {
  return (r.groups ?? [r.postgres]).map(groupFailure).find((f) => f !== undefined);
}

export function formatLagReport(r: LagReport): string {
  const failures = (r.groups ?? [r.postgres]).map(groupFailure).filter((f) => f !== undefined);
  // A lost or missing slot is the headline: nothing of its group streams until it is recovered.
  const lines = [...failures.map((f) => `FAILED: ${f}`), `lag report at ${r.at}`, `postgres    current LSN ${r.postgres.currentLsn}`];
  const groups: (SlotPosition & { lastHeartbeat: string | null; group?: string; tables?: string[] })[] = r.groups ?? [r.postgres];
  for (const p of groups) {
    if (groups.length > 1) lines.push(`            group ${p.group}: ${p.tables?.join(', ') || 'no table'}`);
    slotLines(p, lines);
  }
  return [...lines, ...offsetLines(r)].join('\n');
}

function slotLines(p: SlotPosition & { lastHeartbeat: string | null }, lines: string[]): void {
  const problem = groupFailure(p) ? undefined : slotWarning({ slot: p.slot, found: p.slotFound, walStatus: p.walStatus, active: p.active });
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
}

/** `p0 0, p1 12, p2 0`: each partition's lag, as the report and the pipeline page show it. */
export const partitionLags = (ps: PartitionLag[]): string => ps.map((p) => `p${p.partition} ${p.lag}`).join(', ');

function offsetLines(r: LagReport): string[] {
  const lines: string[] = [];
  for (const k of r.kafka) {
    // Per partition too: one partition stuck behind (its leader cut off) hides in a sum the others keep small.
    const over = k.partitions > 1 ? ` (${k.partitions} partitions: ${partitionLags(k.byPartition)})` : '';
    lines.push(`kafka       ${k.topic} -> group ${k.group}: end ${k.endOffset}, committed ${k.committedOffset}, lag ${k.lag}${k.shards ? ' (worst shard)' : ''}${over}`);
    for (const g of k.shards ?? []) lines.push(`              shard group ${g.group}: committed ${g.committedOffset}, lag ${g.lag}${k.partitions > 1 ? ` (${partitionLags(g.byPartition)})` : ''}`);
  }
  for (const c of r.clickhouse) lines.push(`clickhouse  ${c.table}: newest LSN applied ${c.newestLsn ?? 'none'} (commit ${c.newestCommit ?? 'n/a'}), ${c.rows} rows before merges`);
  return lines;
}
