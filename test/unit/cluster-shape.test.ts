/**
 * The real-cluster shape (catalog/cluster-shape.ts, on-cluster.ts): what the
 * catalog generates with CLICKHOUSE_CLUSTER set, and that without it the SQL
 * is byte for byte the single-host SQL (test/fixtures/single-host-objects.sql
 * was written by the generator before the cluster shape existed).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tableObjects } from '../../catalog/clickhouse-objects.ts';
import { createSql, tableSql } from '../../catalog/clickhouse-create.ts';
import { parseDeclarations } from '../../catalog/declaration.ts';
import type { SourceColumn, SourceTable } from '../../catalog/introspect.ts';
import type { ClickHouseObject, TableObjects } from '../../catalog/object-types.ts';
import { tableNames } from '../../shared/names.ts';
import { repoRoot } from '../../config/paths.ts';
import { onCluster } from '../../catalog/on-cluster.ts';
import { applyPlan, planTable } from '../../catalog/reconcile.ts';
import { ddlVars, listMigrations, render, statements } from '../../connectors/clickhouse/migrate.ts';
import { parseConfig } from '../../config/load.ts';
import { deriveOptions } from '../../catalog/derive.ts';
import type { ClickHouseClient } from '@clickhouse/client';

const day = 86_400_000;
const sink = { kafkaBrokers: ['kafka:29092'], registryUrl: 'http://registry:8080/apis/ccompat/v7', retention: { changelogMs: 30 * day, errorsMs: 90 * day, topicMs: 7 * day } };
const col = (name: string, type: string, notNull = false, keyPosition: number | null = null): SourceColumn => ({ name, type, notNull, keyPosition, comment: null });
const tables: SourceTable[] = [
  {
    source: 'public.cdc_types_probe', schema: 'public', table: 'cdc_types_probe', kind: 'r', replicaIdentity: 'f', owner: 'astros',
    columns: [col('probe_key', 'text', true, 1), col('label', 'text'), col('counter', 'integer', true), col('happened_at', 'timestamp with time zone'), col('amount', 'numeric(38,18)')],
  },
  {
    source: 'sales.order_lines', schema: 'sales', table: 'order_lines', kind: 'r', replicaIdentity: 'd', owner: 'astros',
    columns: [col('order_id', 'bigint', true, 1), col('line_no', 'integer', true, 2), col('sku', 'text', true), col('qty', 'integer')],
  },
];
const derive = (src: SourceTable, cluster?: string): TableObjects =>
  tableObjects(parseDeclarations([{ source: src.source }], 'test')[0]!, src, tableNames(src.source), { ...sink, ...(cluster ? { cluster } : {}) });
const everyObject = (t: TableObjects): ClickHouseObject[] => [t.changelog, t.changes, t.current, ...(t.distributed ?? []), t.changesView, t.queue, ...t.views, t.resync.input, t.resync.shadow, t.resync.view];
const [probe, lines] = tables.map((s) => derive(s, 'astros')) as [TableObjects, TableObjects];

describe('without a cluster', () => {
  it('the generated SQL is byte for byte the single-host SQL', () => {
    const out = tables.map((src) => {
      const t = derive(src);
      return [tableSql(t), ...[t.resync.input, t.resync.shadow, t.resync.view].map((o) => `${createSql(o, false)};`)].join('\n\n');
    });
    expect(`${out.join('\n\n')}\n`).toBe(fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'single-host-objects.sql'), 'utf8'));
  });

  it('CLICKHOUSE_CLUSTER unset or empty derives no cluster; set, it reaches the objects', () => {
    const base = { DATABASE_URL: 'postgres://a:b@h:5432/d', CLICKHOUSE_URL: 'http://h:8123', CONNECT_URL: 'http://h:8083', KAFKA_BROKERS: 'h:9092', REGISTRY_URL: 'http://h:8081' };
    const options = (env: Record<string, string>) => deriveOptions(parseConfig({ ...base, ...env }));
    expect(options({}).sink).not.toHaveProperty('cluster');
    expect(options({ CLICKHOUSE_CLUSTER: '' }).sink).not.toHaveProperty('cluster');
    expect(options({ CLICKHOUSE_CLUSTER: 'astros' }).sink.cluster).toBe('astros');
    expect(() => options({ CLICKHOUSE_CLUSTER: 'a b' })).toThrow(/CLICKHOUSE_CLUSTER: expected a cluster name/);
    expect(onCluster('DROP TABLE IF EXISTS astros.t', undefined)).toBe('DROP TABLE IF EXISTS astros.t');
  });
});

describe('with a cluster', () => {
  it('every object is created ON CLUSTER, right after its name', () => {
    for (const t of [probe, lines]) {
      for (const o of everyObject(t)) {
        const sql = createSql(o);
        expect(sql.split('\n')[0], o.name).toBe(`${o.kind === 'view' ? 'CREATE MATERIALIZED VIEW' : 'CREATE TABLE'} IF NOT EXISTS ${o.name} ON CLUSTER astros${o.kind === 'view' ? ` TO ${o.to} AS` : ''}`);
        expect(sql.match(/ON CLUSTER/g), o.name).toHaveLength(1);
      }
    }
  });

  it('the data in Replicated tables named <t>_local, Keeper path per shard from database and table, {replica} macro', () => {
    expect(probe.changelog).toMatchObject({ name: 'astros.cdc_types_probe_changelog_local', engine: "ReplicatedMergeTree('/clickhouse/tables/{shard}/astros/cdc_types_probe_changelog_local', '{replica}')" });
    expect(probe.changes.engine).toBe("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/astros/cdc_types_probe_changes_local', '{replica}')");
    expect(probe.current).toMatchObject({ name: 'astros.cdc_types_probe_local', engine: "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/astros/cdc_types_probe_local', '{replica}', version, is_deleted)" });
    expect(probe.resync.shadow.engine).toBe("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/astros/cdc_types_probe_resync_local', '{replica}', version, is_deleted)");
    const paths = [probe, lines].flatMap((t) => [t.changelog, t.changes, t.current, t.resync.shadow]).map((s) => /'([^']+)'/.exec(s.engine)![1]);
    expect(new Set(paths).size).toBe(paths.length);
  });

  it('Distributed tables keep today\'s names and the single-host column lists, sharded by cityHash64 of the key', () => {
    for (const [src, t] of [[tables[0]!, probe], [tables[1]!, lines]] as const) {
      const single = derive(src);
      expect(t.distributed!.map((d) => d.name)).toEqual([single.changelog.name, single.changes.name, single.current.name]);
      const key = single.key.join(', ');
      for (const [d, s, local] of [[t.distributed![0]!, single.changelog, t.changelog], [t.distributed![1]!, single.changes, t.changes], [t.distributed![2]!, single.current, t.current]] as const) {
        expect(d.columns).toEqual(s.columns);
        expect(local.columns).toEqual(s.columns);
        expect(local.orderBy).toEqual(s.orderBy);
        expect(local.ttl).toBe(s.ttl);
        expect(d.ttl).toBeUndefined();
        expect(d.engine).toBe(`Distributed('astros', 'astros', '${local.name.split('.')[1]}', cityHash64(${key}))`);
      }
      // Readers (validation, lag, dbt, ch) use the names: they are the Distributed tables.
      expect(t.names).toEqual(single.names);
    }
    expect(lines.distributed![2]!.engine).toBe("Distributed('astros', 'astros', 'sales__order_lines_local', cityHash64(order_id, line_no))");
  });

  it('the queue on every host reads in one group per shard; its views write the local tables and keep only the shard\'s keys', () => {
    expect(Object.fromEntries(probe.queue.settings).kafka_group_name).toBe('clickhouse-cdc-types-probe-shard{shard}');
    const single = derive(tables[1]!);
    expect(Object.fromEntries(lines.queue.settings)).toEqual({ ...Object.fromEntries(single.queue.settings), kafka_group_name: 'clickhouse-sales--order-lines-shard{shard}' });
    const [changelogMv, currentMv, errorsMv] = lines.views;
    expect([changelogMv!.to, currentMv!.to, errorsMv!.to]).toEqual([lines.changelog.name, lines.current.name, 'astros.kafka_errors']);
    const shard = "(SELECT any(shard_num) - 1 FROM system.clusters WHERE cluster = 'astros' AND is_local)";
    const shards = "(SELECT max(shard_num) FROM system.clusters WHERE cluster = 'astros')";
    const filter = `\n  AND cityHash64(CAST(order_id, 'Int64'), CAST(line_no, 'Int32')) % ${shards} = ${shard}`;
    expect(changelogMv!.select).toBe(`${single.views[0]!.select}${filter}`);
    expect(currentMv!.select).toBe(`${single.views[1]!.select}${filter}`);
    expect(errorsMv!.select).toBe(`${single.views[2]!.select}\n  AND _partition % ${shards} = ${shard}`);
    expect(lines.changesView).toMatchObject({ to: lines.changes.name, select: single.changesView.select.replace(/FROM \S+$/, `FROM ${lines.changelog.name}`) });
    expect(lines.resync.view.to).toBe(lines.resync.shadow.name);
  });

  it('every statement a reconcile plan applies goes ON CLUSTER, the Distributed tables planned after the local ones', async () => {
    const plan = await planTable({} as ClickHouseClient, probe, new Map());
    const creates = plan.actions.flatMap((a) => ('sql' in a ? [a.sql].flat() : []));
    expect(creates.filter((s) => /^CREATE TABLE IF NOT EXISTS/.test(s)).map((s) => /^CREATE TABLE IF NOT EXISTS (\S+)/.exec(s)?.[1])).toEqual([
      ...[probe.changelog, probe.changes, probe.current, ...probe.distributed!].map((o) => o.name),
    ]);
    const sent: string[] = [];
    const ch = { command: async ({ query }: { query: string }) => void sent.push(query) } as unknown as ClickHouseClient;
    const alters = { table: 'x', cluster: 'astros', actions: [
      { kind: 'ttl' as const, object: 'astros.t', detail: '', sql: 'ALTER TABLE astros.t MODIFY TTL ingested_at + INTERVAL 1 DAY' },
      { kind: 'recreate-consumer' as const, object: 'astros.t_queue', reason: '', sql: ['DROP VIEW IF EXISTS astros.t_mv', 'DROP TABLE IF EXISTS astros.t_queue', createSql(probe.queue, false)] },
    ] };
    await applyPlan(ch, { ...plan, actions: [...plan.actions, ...alters.actions] }, () => undefined);
    expect(sent.length).toBeGreaterThan(10);
    for (const q of sent) if (!/^INSERT/.test(q)) expect(q).toMatch(/^\S+( \S+)*? ON CLUSTER astros\b/);
    expect(sent).toContain('ALTER TABLE astros.t ON CLUSTER astros MODIFY TTL ingested_at + INTERVAL 1 DAY');
    expect(sent).toContain('DROP VIEW IF EXISTS astros.t_mv ON CLUSTER astros');
  });

  it('ON CLUSTER goes where the grammar wants it, once, and never on statements that are not DDL', () => {
    const c = (sql: string) => onCluster(sql, 'astros');
    expect(c('EXCHANGE TABLES astros.a AND astros.b')).toBe('EXCHANGE TABLES astros.a AND astros.b ON CLUSTER astros');
    expect(c('RENAME TABLE astros.a TO astros.b, astros.c TO astros.d')).toBe('RENAME TABLE astros.a TO astros.b, astros.c TO astros.d ON CLUSTER astros');
    expect(c('ALTER TABLE astros.t RENAME COLUMN IF EXISTS a TO b')).toBe('ALTER TABLE astros.t ON CLUSTER astros RENAME COLUMN IF EXISTS a TO b');
    expect(c('DROP TABLE IF EXISTS astros.`odd name` SYNC')).toBe('DROP TABLE IF EXISTS astros.`odd name` ON CLUSTER astros SYNC');
    expect(c('CREATE DATABASE IF NOT EXISTS astros')).toBe('CREATE DATABASE IF NOT EXISTS astros ON CLUSTER astros');
    expect(c(c('ALTER TABLE astros.t MODIFY COMMENT \'\''))).toBe("ALTER TABLE astros.t ON CLUSTER astros MODIFY COMMENT ''");
    for (const dml of ['SELECT 1', 'INSERT INTO astros.t SELECT * FROM astros.u', 'DELETE FROM astros.t WHERE 1', 'SYSTEM FLUSH LOGS']) expect(c(dml)).toBe(dml);
  });

  it('the numbered migrations: every statement ON CLUSTER through the same substitution', () => {
    const all = listMigrations().flatMap((f) => statements(render(f, ddlVars())));
    expect(all.length).toBeGreaterThan(3);
    for (const s of all) expect(onCluster(s, 'astros')).toMatch(/^CREATE (TABLE|DATABASE) IF NOT EXISTS \S+ ON CLUSTER astros\b/);
  });
});
