/**
 * Who reads a table of the real-cluster shape besides its queues: the lag
 * report and the catch-up wait read every shard's consumer group (a table's
 * lag is its worst shard's), and the schema-change activity alters the local
 * and the Distributed tables ON CLUSTER. Without a cluster each is what it
 * was. Pure: the consumer-group lookup gets a client that answers one query.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { tableObjects } from '../../catalog/clickhouse-objects.ts';
import { shardGroup, shardGroupOf, shardMacrosSql } from '../../catalog/cluster-shape.ts';
import { parseDeclarations } from '../../catalog/declaration.ts';
import type { SourceColumn, SourceTable } from '../../catalog/introspect.ts';
import type { TableObjects } from '../../catalog/object-types.ts';
import { storageStatements, type SchemaPlan } from '../../catalog/schema-change.ts';
import { consumerGroupsOf, NoShards } from '../../connectors/clickhouse/shard-groups.ts';
import { formatLagReport, groupOffsets, topicLag, type LagReport } from '../../activities/lag-report.ts';
import { tableNames } from '../../shared/names.ts';

const day = 86_400_000;
const sink = { kafkaBrokers: ['kafka:29092'], registryUrl: 'http://registry:8080/apis/ccompat/v7', retention: { changelogMs: 30 * day, errorsMs: 90 * day, topicMs: 7 * day } };
const col = (name: string, type: string, notNull = false, keyPosition: number | null = null): SourceColumn => ({ name, type, notNull, keyPosition, comment: null });
const src: SourceTable = {
  source: 'sales.order_lines', schema: 'sales', table: 'order_lines', kind: 'r', replicaIdentity: 'd', owner: 'astros',
  columns: [col('order_id', 'bigint', true, 1), col('line_no', 'integer', true, 2), col('sku', 'text', true), col('qty', 'integer')],
};
const derive = (cluster?: string): TableObjects => tableObjects(parseDeclarations([{ source: src.source }], 'test')[0]!, src, tableNames(src.source), { ...sink, ...(cluster ? { cluster } : {}) });

/** A client whose every query answers these rows, and that records the queries. */
function answering(rows: unknown[]): { ch: ClickHouseClient; queries: string[] } {
  const queries: string[] = [];
  const ch = { query: async ({ query }: { query: string }) => (queries.push(query), { json: async () => rows }) } as unknown as ClickHouseClient;
  return { ch, queries };
}

describe("a cluster's consumer groups", () => {
  it('one per shard: the macro each server expands, put in by the same pattern the queues are created with', () => {
    expect(shardGroupOf('clickhouse-sales--order-lines', '2')).toBe('clickhouse-sales--order-lines-shard2');
    expect(shardGroupOf('g', '1')).toBe(shardGroup('g').replace('{shard}', '1'));
    const q = shardMacrosSql("as'tros");
    expect(q).toContain("clusterAllReplicas('as''tros', system.macros)");
    expect(q).toMatch(/WHERE macro = 'shard'/);
    expect(q).toMatch(/SELECT DISTINCT substitution AS shard/);
    expect(q).toMatch(/skip_unavailable_shards = 1/);
  });

  it('are read from the cluster; one host: the table group itself and no query', async () => {
    const one = answering([]);
    expect(await consumerGroupsOf(one.ch, undefined, 'clickhouse-x')).toEqual(['clickhouse-x']);
    expect(one.queries).toEqual([]);
    const two = answering([{ shard: '1' }, { shard: '2' }]);
    expect(await consumerGroupsOf(two.ch, 'astros', 'clickhouse-x')).toEqual(['clickhouse-x-shard1', 'clickhouse-x-shard2']);
    expect(two.queries).toEqual([shardMacrosSql('astros')]);
    await expect(consumerGroupsOf(answering([]).ch, 'astros', 'clickhouse-x')).rejects.toThrow(NoShards);
  });
});

describe('lag on a cluster', () => {
  const ends = [
    { partition: 0, low: 0n, high: 10n },
    { partition: 1, low: 0n, high: 5n },
  ];
  const shard1 = groupOffsets('g-shard1', ends, new Map([[0, 10n], [1, 5n]]));
  const shard2 = groupOffsets('g-shard2', ends, new Map([[0, 4n], [1, 5n]]));

  it("a table's lag is its worst shard's, every shard listed; one host: the one group as before", () => {
    const row = topicLag('t', 'g', ends, [shard1, shard2], true);
    expect(row).toMatchObject({ topic: 't', group: 'g-shard{shard}', partitions: 2, endOffset: 15, committedOffset: 9, lag: 6, shards: [shard1, shard2] });
    expect(row.byPartition.map((p) => p.lag)).toEqual([6, 0]);
    const single = topicLag('t', 'g', ends, [groupOffsets('g', ends, new Map([[0, 7n]]))], false);
    expect(single).toEqual({ topic: 't', group: 'g', partitions: 2, endOffset: 15, committedOffset: 7, lag: 8, byPartition: expect.any(Array) });
    expect(single).not.toHaveProperty('shards');
  });

  it('the report names the worst shard and shows each', () => {
    const pg = { slot: 's', slotFound: true, active: true, walStatus: 'reserved', currentLsn: '0/1', confirmedFlushLsn: '0/1', restartLsn: '0/1', flushLagBytes: 0, retainedWalBytes: 0, lastHeartbeat: null };
    const r = { at: 'now', postgres: pg, kafka: [topicLag('t', 'g', ends, [shard1, shard2], true)], clickhouse: [] } as unknown as LagReport;
    const text = formatLagReport(r);
    expect(text).toContain('kafka       t -> group g-shard{shard}: end 15, committed 9, lag 6 (worst shard) (2 partitions: p0 6, p1 0)');
    expect(text).toContain('shard group g-shard1: committed 15, lag 0 (p0 0, p1 0)');
    expect(text).toContain('shard group g-shard2: committed 9, lag 6 (p0 6, p1 0)');
  });
});

describe('schema changes on a cluster', () => {
  const plan: SchemaPlan = {
    steps: [
      { kind: 'rename', from: 'qty', to: 'quantity', outputs: [['qty', 'quantity']] },
      { kind: 'widen', column: 'line_no', from: 'Int32', to: 'Int64' },
      { kind: 'drop', column: 'sku', outputs: ['sku'] },
    ],
    reload: true,
  };

  it('alter the local tables, then the Distributed tables over them, every statement ON CLUSTER', () => {
    const sql = storageStatements(derive('astros'), plan).map((s) => s.sql);
    const tables = ['astros.sales__order_lines_changelog', 'astros.sales__order_lines_changes', 'astros.sales__order_lines'];
    const both = [...tables.map((t) => `${t}_local`), ...tables];
    expect(sql).toEqual([
      ...both.map((t) => `ALTER TABLE ${t} ON CLUSTER astros RENAME COLUMN IF EXISTS qty TO quantity`),
      ...both.map((t) => `ALTER TABLE ${t} ON CLUSTER astros MODIFY COLUMN IF EXISTS line_no Int64`),
      `ALTER TABLE astros.sales__order_lines_local ON CLUSTER astros DROP COLUMN IF EXISTS sku`,
      `ALTER TABLE astros.sales__order_lines ON CLUSTER astros DROP COLUMN IF EXISTS sku`,
    ]);
  });

  it('one host: the three tables, no ON CLUSTER; widen and drop wait for their mutation', () => {
    const st = storageStatements(derive(), plan);
    expect(st.map((s) => s.sql).join('\n')).not.toMatch(/ON CLUSTER|_local/);
    expect(st).toHaveLength(3 + 3 + 1);
    expect(st.map((s) => s.mutation)).toEqual([false, false, false, true, true, true, true]);
  });
});
