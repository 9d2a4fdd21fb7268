import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backfillChangesSql, createSql, tableSql } from '../../catalog/clickhouse-create.ts';
import { tableObjects } from '../../catalog/clickhouse-objects.ts';
import { mapColumn } from '../../catalog/column-types.ts';
import { connectorFor, readConnectorFile } from '../../catalog/connector.ts';
import { parseDeclarations } from '../../catalog/declaration.ts';
import { generatedFiles } from '../../catalog/generated-files.ts';
import type { SourceColumn, SourceTable } from '../../catalog/introspect.ts';
import { pipelineNames, tableNames } from '../../shared/names.ts';
import { repoRoot } from '../../config/paths.ts';
import { parseEngineSettings } from '../../catalog/reconcile.ts';
import { statements } from '../../connectors/clickhouse/migrate.ts';

const col = (name: string, type: string, notNull = false, keyPosition: number | null = null): SourceColumn => ({ name, type, notNull, keyPosition, comment: null });
const day = 86_400_000;
const sink = { kafkaBrokers: ['127.0.0.1:9092'], registryUrl: 'http://127.0.0.1:8081/apis/ccompat/v7', retention: { changelogMs: 30 * day, errorsMs: 90 * day, topicMs: 7 * day } };

const probe: SourceTable = {
  source: 'public.cdc_types_probe',
  schema: 'public',
  table: 'cdc_types_probe',
  kind: 'r',
  replicaIdentity: 'f',
  owner: 'astros',
  columns: [
    col('probe_key', 'text', true, 1),
    col('label', 'text'),
    col('counter', 'integer', true),
    col('happened_at', 'timestamp with time zone'),
    col('amount', 'numeric(38,18)'),
    col('big_number', 'numeric'),
    col('payload', 'text'),
  ],
};

describe('catalog declarations', () => {
  it('report every problem with the table it belongs to', () => {
    expect(() =>
      parseDeclarations(
        [{ source: 'Public.X' }, { source: 'public.a', exclude: ['id'], key: ['id'] }, { source: 'public.b', colour: 'red' }, { source: 'public.b' }],
        'here',
      ),
    ).toThrow(/here: Public\.X: source: expected schema\.table[\s\S]*public\.a: column id is both a key and excluded[\s\S]*public\.b: \(table\): Unrecognized key/);
    expect(() => parseDeclarations([{ source: 'public.c' }, { source: 'public.c' }], 'here')).toThrow('public.c is declared twice');
  });
});

describe('names', () => {
  it('derive every object of a table from its source name, keeping the first DDL groups', () => {
    const n = tableNames('public.cdc_types_probe');
    expect(n).toMatchObject({ topic: 'astros.public.cdc_types_probe', group: 'clickhouse-cdc-types-probe', queue: 'astros.cdc_types_probe_queue', current: 'astros.cdc_types_probe' });
    expect(tableNames('sales.orders', { groupPrefix: 'g', database: 'x' })).toMatchObject({ base: 'sales__orders', group: 'g-sales--orders', changelog: 'x.sales__orders_changelog', changes: 'x.sales__orders_changes' });
    expect(pipelineNames).toMatchObject({ slot: 'astros_debezium', publication: 'astros_publication', topicPrefix: 'astros' });
  });
});

describe('column types', () => {
  it('map each supported type, keep nullability, and refuse the rest by name', () => {
    expect(mapColumn(col('k', 'bigint', true, 1), 'q')).toMatchObject({ queueType: 'Int64', outputs: [{ type: 'Int64', expr: 'k' }] });
    expect(mapColumn(col('n', 'integer', true), 'q').outputs).toEqual([{ name: 'n', type: 'Int32', expr: 'coalesce(n, 0)' }]);
    expect(mapColumn(col('s', 'character varying(20)'), 'q').outputs).toEqual([{ name: 's', type: 'Nullable(String)', expr: 's' }]);
    expect(mapColumn(col('d', 'numeric(5,2)'), 'q').outputs.map((o) => o.expr)).toEqual([
      'toDecimal32OrNull(d, 2)',
      "multiIf(q.d = 'NAN', 'NaN', q.d = 'POSITIVE_INFINITY', 'Infinity', q.d = 'NEGATIVE_INFINITY', '-Infinity', q.d)",
    ]);
    expect(mapColumn(col('d', 'numeric(60,10)'), 'q').outputs[0]!.type).toBe('Nullable(Decimal(60, 10))');
    expect(mapColumn(col('select', 'boolean', true), 'q').outputs[0]!.expr).toBe('coalesce(select, false)');
    expect(mapColumn(col('odd name', 'text'), 'q').outputs[0]!.expr).toBe('`odd name`');
    expect(() => mapColumn(col('p', 'point'), 'q')).toThrow(/column p has type point.*exclude/);
  });
});

describe('ClickHouse objects', () => {
  it('derive the shape the first hand-written DDL had (so stacks built by it are adopted as they are)', () => {
    const t = tableObjects({ source: probe.source, exclude: [], columns: {} }, probe, tableNames(probe.source), sink);
    const legacy = fs.readFileSync(path.join(repoRoot, 'test/fixtures/legacy-clickhouse-ddl.sql'), 'utf8');
    // The last definition of each object in the fixture is what a stack holds.
    const last = new Map<string, string>();
    for (const s of statements(legacy)) {
      const m = /^CREATE (?:TABLE|MATERIALIZED VIEW)(?: IF NOT EXISTS)? \{\{DB\}\}\.(\w+)/.exec(s);
      if (m) last.set(m[1]!, s);
    }
    const norm = (s: string) => s.replace(/--[^\n]*/g, '').replace(/\s+/g, ' ').replace(/ COMMENT '[^']*'/g, '').replace('IF NOT EXISTS ', '').replace(/\( /g, '(').replace(/ \)/g, ')').trim();
    const fromFixture = (name: string) =>
      norm(last.get(name)!.replaceAll('{{DB}}', 'astros').replaceAll('{{KAFKA_BROKERS}}', sink.kafkaBrokers.join(',')).replaceAll('{{SCHEMA_REGISTRY_URL}}', sink.registryUrl).replaceAll('{{KAFKA_GROUP_PREFIX}}', 'clickhouse'));
    expect(norm(createSql(t.queue))).toBe(fromFixture('cdc_types_probe_queue'));
    // Two view expressions were corrected deliberately (issue 16); a stack built before gets its views
    // recreated with the same consumer group, its storage columns are unchanged:
    //  - `amount AS amount_text` read the Decimal alias beside it, not the queue's text (NaN lost, trailing zeros stripped);
    //  - numeric NaN/±Infinity are spelled as Postgres spells them, not Debezium's NAN/POSITIVE_INFINITY/NEGATIVE_INFINITY.
    const spelled = (x: string) => `multiIf(${x} = 'NAN', 'NaN', ${x} = 'POSITIVE_INFINITY', 'Infinity', ${x} = 'NEGATIVE_INFINITY', '-Infinity', ${x})`;
    const corrected = (sql: string) =>
      sql.replace('amount AS amount_text', `${spelled('cdc_types_probe_queue.amount')} AS amount_text`).replace(' big_number,', ` ${spelled('big_number')} AS big_number,`);
    for (const v of t.views) expect(norm(createSql(v))).toBe(corrected(fromFixture(v.name.split('.')[1]!)));
    expect(norm(createSql(t.current))).toBe(fromFixture('cdc_types_probe'));
    // The first DDL had no TTL: reconcile gives an adopted record its TTL with ALTER TABLE ... MODIFY TTL.
    expect(norm(createSql({ ...t.changelog, ttl: undefined }))).toBe(fromFixture('cdc_types_probe_changelog'));
  });

  it('keep each change once, keyed by (key, lsn), fed from the per-message record with only what every delivery shares', () => {
    const t = tableObjects({ source: probe.source, key: ['probe_key', 'counter'], exclude: [], columns: {} }, probe, tableNames(probe.source), sink);
    expect(t.changes).toMatchObject({ name: 'astros.cdc_types_probe_changes', engine: 'ReplacingMergeTree', orderBy: ['probe_key', 'counter', 'lsn'] });
    const cols = t.changes.columns.map((c) => c.name);
    expect(cols).toEqual([...t.columns.flatMap((c) => c.outputs.map((o) => o.name)), 'op', 'is_deleted', 'lsn', 'tx_id', 'commit_ts']);
    // delivery facts differ between deliveries of one change: they stay in the record only
    for (const c of ['captured_ts', 'kafka_partition', 'kafka_offset', 'ingested_at']) expect(t.changelog.columns.map((x) => x.name)).toContain(c);
    expect(t.changesView).toMatchObject({ name: 'astros.cdc_types_probe_changes_mv', to: t.changes.name });
    expect(t.changesView.select).toMatch(/FROM astros\.cdc_types_probe_changelog$/);
    expect(t.views.map((v) => v.name)).not.toContain(t.changesView.name); // not a view of the queue
    expect(backfillChangesSql(t)).toBe(`INSERT INTO astros.cdc_types_probe_changes (${cols.join(', ')})\n${t.changesView.select}`);
    const sql = tableSql(t);
    expect(sql.indexOf(t.changesView.name)).toBeLessThan(sql.indexOf(t.queue.name + '\n')); // fed before the queue exists
  });

  it('leave excluded columns out, honour a declared key, and refuse a table without one', () => {
    const noPk: SourceTable = { ...probe, columns: probe.columns.map((c) => ({ ...c, keyPosition: null })) };
    expect(() => tableObjects({ source: probe.source, exclude: [], columns: {} }, noPk, tableNames(probe.source), sink)).toThrow(/no primary key: declare "key"/);
    const t = tableObjects({ source: probe.source, key: ['probe_key', 'counter'], exclude: ['payload'], columns: {} }, noPk, tableNames(probe.source), sink);
    expect(t.current.orderBy).toEqual(['probe_key', 'counter']);
    expect(tableSql(t)).not.toContain('payload');
    expect(t.queue.columns.find((c) => c.name === 'counter')!.type).toBe('Int32');
  });

  it('refuse a column whose ClickHouse name the pipeline uses, or that another column produces too', () => {
    const withCol = (name: string, type: string): SourceTable => ({ ...probe, columns: [...probe.columns, { name, type, notNull: false, keyPosition: null, comment: null }] });
    const decl = { source: probe.source, exclude: [], columns: {} };
    expect(() => tableObjects(decl, withCol('version', 'bigint'), tableNames(probe.source), sink)).toThrow(
      /column\(s\) version would clash in ClickHouse with the pipeline's own columns \(op, is_deleted, lsn, .*\); leave them out with "exclude"/,
    );
    const numeric = probe.columns.find((c) => c.type.startsWith('numeric'))!.name;
    expect(() => tableObjects(decl, withCol(`${numeric}_text`, 'text'), tableNames(probe.source), sink)).toThrow(new RegExp(`${numeric}_text would clash in ClickHouse with another column`));
    expect(() => tableObjects({ ...decl, exclude: ['version'] }, withCol('version', 'bigint'), tableNames(probe.source), sink)).not.toThrow();
  });

  it('read engine settings back as ClickHouse prints them', () => {
    expect(parseEngineSettings("Kafka SETTINGS kafka_broker_list = 'a:1,b:2', kafka_format = 'AvroConfluent', kafka_num_consumers = 1, x = 'it\\'s'")).toEqual({
      kafka_broker_list: 'a:1,b:2',
      kafka_format: 'AvroConfluent',
      kafka_num_consumers: '1',
      x: "it's",
    });
  });
});

describe('derived files', () => {
  it('are in step with catalog/tables.ts (npm run catalog -- generate)', () => {
    for (const g of generatedFiles()) expect(fs.readFileSync(g.file, 'utf8'), path.relative(repoRoot, g.file)).toBe(g.text);
  });

  it('the production connector names only the repository tables, literally', () => {
    const c = connectorFor(readConnectorFile(), [{ source: 'public.a$b', exclude: ['secret'], columns: {} }]);
    expect(c.config['table.include.list']).toBe('public.a$b');
    expect(c.config['column.exclude.list']).toBe('public\\.a\\$b\\.secret');
    expect(readConnectorFile().config['table.include.list']).toBe('public.astronauts');
  });

  it('no two ClickHouse DDL files share a block, and none defines a Kafka queue by hand', () => {
    const dir = path.join(repoRoot, 'clickhouse-ddl');
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.sql'))) expect(fs.readFileSync(path.join(dir, f), 'utf8')).not.toMatch(/ENGINE\s*=\s*Kafka/i);
  });
});
