import { describe, expect, it } from 'vitest';
import { tableObjects } from '../../catalog/clickhouse-objects.ts';
import { parseDeclarations } from '../../catalog/declaration.ts';
import type { SourceTable } from '../../catalog/introspect.ts';
import { pgWireType, pgWireValue } from '../../catalog/load-encoding.ts';
import { tableNames } from '../../shared/names.ts';
import { historySql, keepUnchangedSql, lateRowsSql, splitBlocks } from '../../catalog/resync-sql.ts';
import { dropLoadObjectsSql, loadObjectPrefix, loadSource, pullRangeSql } from '../../catalog/resync-load-sql.ts';
import { progressBar } from '../../cli/resync-progress.ts';
import type { LagReport } from '../../activities/lag-report.ts';

const src: SourceTable = {
  source: 'public.orders',
  schema: 'public',
  table: 'orders',
  owner: 'astros',
  replicaIdentity: 'f',
  columns: [
    { name: 'id', type: 'bigint', notNull: true, keyPosition: 1, comment: null },
    { name: 'amount', type: 'numeric(12,2)', notNull: false, keyPosition: null, comment: null },
    { name: 'tags', type: 'text[]', notNull: false, keyPosition: null, comment: null },
    { name: 'email', type: 'text', notNull: false, keyPosition: null, comment: null },
  ],
} as SourceTable;
const [decl] = parseDeclarations([{ source: 'public.orders' }], 'test');
const t = tableObjects(decl!, src, tableNames('public.orders'), { kafkaBrokers: ['k:9092'], registryUrl: 'http://r', retention: { changelogMs: 86_400_000, errorsMs: 86_400_000, topicMs: 86_400_000 } });

describe('resync objects and SQL', () => {
  it('splits heap blocks into ranges, the last open-ended, at least one for an empty table', () => {
    expect(splitBlocks(10, 4)).toEqual([
      { index: 0, fromBlock: 0, toBlock: 4 },
      { index: 1, fromBlock: 4, toBlock: 8 },
      { index: 2, fromBlock: 8, toBlock: null },
    ]);
    expect(splitBlocks(0, 100)).toEqual([{ index: 0, fromBlock: 0, toBlock: null }]);
  });

  it('generates a Null input shaped like the queue and a view into the shadow with the current view’s expressions', () => {
    expect(t.resync.input.engine).toBe('Null');
    expect(t.resync.input.columns.map((c) => c.name)).toEqual(t.queue.columns.map((c) => c.name));
    expect(t.resync.shadow.columns).toEqual(t.current.columns);
    expect(t.resync.view.to).toBe(t.resync.shadow.name);
    const currentView = t.views.find((v) => v.to === t.current.name)!;
    expect(t.resync.view.select.split('\nFROM')[0]).toBe(currentView.select.split('\nFROM')[0]);
    expect(t.resync.view.select).toContain(`FROM ${t.resync.input.name} AS orders_queue`);
  });

  it('reads a block range through a rendering function and a view with its ctid bounds; ClickHouse pulls it at version L', () => {
    const s = loadSource(src, t, {}, { index: 1, fromBlock: 4, toBlock: 8 });
    expect(s.fn.startsWith(loadObjectPrefix('public.orders'))).toBe(true);
    // A string body: no dependency on the table's columns; STABLE and not STRICT: the planner inlines it.
    expect(s.createFn).toMatch(/^create function public\."astros_load_\w+"\(\) returns table \(__ctid tid, "id" bigint, "amount" text, "tags" text, "email" text\) language sql stable as \$astros_load\$select ctid, .* from "public"\."orders"\$astros_load\$$/s);
    expect(s.createView).toBe(`create or replace view public."${s.fn}_b4" as select * from public."${s.fn}"() where __ctid >= '(4,0)'::tid and __ctid < '(8,0)'::tid`);
    expect(loadSource(src, t, {}, { index: 2, fromBlock: 8, toBlock: null }).createView).not.toContain('__ctid <');
    // A timestamptz is rendered as Postgres' own text: the view checks once per read that the session's DateStyle is ISO.
    const at = { name: 'at', type: 'timestamp with time zone', notNull: false, keyPosition: null, comment: null };
    const withAt = (transforms: Parameters<typeof loadSource>[2]) =>
      loadSource({ ...src, columns: [...src.columns, at] }, { ...t, resync: { ...t.resync, loadColumns: [...t.resync.loadColumns, 'at'] } }, transforms, { index: 0, fromBlock: 0, toBlock: null }).createView;
    expect(withAt({})).toMatch(/where __ctid >= '\(0,0\)'::tid and \(current_setting\('DateStyle'\) like 'ISO,%' or \('resync reads timestamps in DateStyle ISO; .*\)::int = 0\)$/);
    expect(withAt({ at: { kind: 'mask', chars: 3 } })).not.toContain('DateStyle');
    // Another shape renders differently: a function of its own.
    expect(loadSource({ ...src, columns: src.columns.slice(0, 3) }, { ...t, resync: { ...t.resync, loadColumns: ['id', 'amount', 'tags'] } }, {}, { index: 0, fromBlock: 0, toBlock: null }).fn).not.toBe(s.fn);
    const pull = pullRangeSql(t, s, { host: '127.0.0.1', port: 5432, database: 'astros', user: 'u', password: "p'w\\" }, 41n);
    expect(pull).toContain(`INSERT INTO ${t.resync.input.name} (id, amount, tags, email, __op, __lsn, __source_ts_ms, __ts_ms, __source_txId, __deleted)`);
    expect(pull).toContain(`SELECT assumeNotNull(id), amount, assumeNotNull(tags), email, 'r', 41, `);
    expect(pull).toContain(`FROM postgresql('127.0.0.1:5432', 'astros', '${s.fn}_b4', 'u', 'p\\'w\\\\', 'public')`);
    expect(dropLoadObjectsSql('public.orders')).toContain(`like '${loadObjectPrefix('public.orders').replaceAll('_', '\\_')}%'`);
  });

  it('renders wire values as Debezium sends them, transforms applied', () => {
    expect(pgWireValue(src.columns[2]!)).toContain(`when "tags" is null then '[]'`);
    expect(pgWireValue({ name: 'ts', type: 'timestamp(3) without time zone', notNull: false, keyPosition: null, comment: null })).toContain('* 1000)::bigint');
    expect(pgWireValue(src.columns[3]!, { kind: 'mask', chars: 3 })).toBe(`repeat('*', 3)`);
    expect(() => pgWireValue({ name: 'p', type: 'point', notNull: false, keyPosition: null, comment: null })).toThrow(/no load encoding for point/);
    // Integers, booleans and dates pass typed (a date as its day number); with a transform, or in an array, as text.
    const col = (type: string) => ({ name: 'c', type, notNull: false, keyPosition: null, comment: null });
    expect([pgWireType(src.columns[0]!), pgWireValue(src.columns[0]!)]).toEqual(['bigint', '"id"']);
    expect([pgWireType(col('boolean')), pgWireType(col('smallint')), pgWireType(col('date'))]).toEqual(['boolean', 'smallint', 'integer']);
    expect(pgWireValue(col('date'))).toBe(`case when isfinite("c") then "c" - date '1970-01-01' end`);
    expect(pgWireType(col('integer'), { kind: 'mask', chars: 3 })).toBe('text');
    expect([pgWireType(col('integer[]')), pgWireType(col('numeric(12,2)'))]).toEqual(['text', 'text']);
  });

  it('adds history only for rows that differ and keys the load did not find; copies only late rows the live copy lacks', () => {
    const h = historySql(t, 'astros.orders_resync', 41n);
    expect(h.changed).toContain(`'r', 0, 41`);
    expect(h.changed).toContain('NOT IN (SELECT (id), cityHash64');
    expect(h.deleted).toContain(`'d', 1, 41`);
    expect(h.deleted).toContain('version <= 41');
    // A first load (no live row in the old copy): the loaded rows as they are, and no deletes.
    const first = historySql(t, 'astros.orders_resync', 41n, true);
    expect(first.changed).toContain(`'r', 0, 41`);
    expect(first.changed).toContain('WHERE version = 41 AND is_deleted = 0');
    expect(first.changed).not.toMatch(/FINAL|NOT IN|cityHash64/);
    expect(first.deleted).toBeUndefined();
    expect(lateRowsSql(t, 'astros.orders_resync', 41n).copy).toContain('((id), version) NOT IN (SELECT (id), version FROM astros.orders WHERE version > 41)');
  });

  it('keeps the live version of a loaded row equal to the live one: live rows below L copied in, then the loaded rows they equal deleted', () => {
    const k = keepUnchangedSql(t, 'astros.orders', 'astros.orders_resync', 41n);
    const hash = 'cityHash64(toString(tuple(id, amount, amount_text, tags, email)))';
    expect(k.copy).toBe(
      `INSERT INTO astros.orders_resync SELECT * FROM astros.orders FINAL WHERE version < 41 AND is_deleted = 0 AND ((id), ${hash}) IN (SELECT (id), ${hash} FROM astros.orders_resync WHERE version = 41 AND is_deleted = 0)`,
    );
    expect(k.drop).toBe(`DELETE FROM astros.orders_resync WHERE version = 41 AND ((id), ${hash}) IN (SELECT (id), ${hash} FROM astros.orders_resync WHERE version < 41 AND is_deleted = 0)`);
    expect(k.live).toBe('SELECT count() AS n FROM astros.orders WHERE version < 41 AND is_deleted = 0');
    // What the drop removes is what the count counts.
    expect(k.count.replace('SELECT count() AS n FROM (SELECT 1 FROM', 'DELETE FROM').replace(' AND is_deleted = 0 AND', ' AND').replace(/\)$/, '')).toBe(k.drop);
  });

  it('draws the progress bar with rate and ETA', () => {
    expect(progressBar({ phase: 'loading', rangesDone: 4, ranges: 8, rowsLoaded: 100_000, estimatedRows: 200_000 }, 10_000, 10)).toBe(
      '[#####-----] 50% 100,000 of ~200,000 rows, 4/8 ranges, 10,000 rows/s, ETA 10 s',
    );
    expect(progressBar({ phase: 'swapping', rangesDone: 8, ranges: 8, rowsLoaded: 200_000, estimatedRows: 200_000 }, 1)).toBe('resync: swapping (8/8 ranges, 200,000 rows loaded)');
  });
});

describe('replication slot health', () => {
  it('names a lost or missing slot and the command that recovers; warns while it can be saved', async () => {
    const { slotProblem, slotWarning } = await import('../../connectors/postgres/slots.ts');
    expect(slotProblem({ slot: 's', found: true, walStatus: 'reserved', active: true })).toBeUndefined();
    expect(slotProblem({ slot: 's', found: true, walStatus: 'lost', active: false })).toMatch(/^replication slot s is lost: .*run npm run recover/);
    expect(slotProblem({ slot: 's', found: false, walStatus: null, active: null })).toMatch(/^replication slot s does not exist: .*npm run recover/);
    expect(slotWarning({ slot: 's', found: true, walStatus: 'unreserved', active: true })).toMatch(/invalidates it at the next checkpoint/);
    expect(slotWarning({ slot: 's', found: true, walStatus: 'extended', active: true })).toBeUndefined();
  });

  it("makes a lost or missing slot the lag report's first line, FAILED", async () => {
    const { formatLagReport, lagFailure } = await import('../../activities/lag-report.ts');
    const postgres: LagReport['postgres'] = { currentLsn: '0/9', slot: 's', slotFound: true, active: true, confirmedFlushLsn: '0/9', flushLagBytes: 0, retainedWalBytes: 10, walStatus: 'reserved', lastHeartbeat: null };
    const report = (p: Partial<LagReport['postgres']>): LagReport => ({ at: 'now', postgres: { ...postgres, ...p }, kafka: [], clickhouse: [] });
    expect(formatLagReport(report({})).split('\n')[0]).toBe('lag report at now');
    expect(lagFailure(report({}))).toBeUndefined();
    expect(formatLagReport(report({ walStatus: 'lost', active: false })).split('\n')[0]).toMatch(/^FAILED: replication slot s is lost: .*npm run recover/);
    expect(formatLagReport(report({ slotFound: false, active: null, walStatus: null })).split('\n')[0]).toMatch(/^FAILED: replication slot s does not exist: .*failed over to a standby.*npm run recover/);
  });

  it('says a capture gap in one line: the LSN range, when, and the reload', async () => {
    const { gapText } = await import('../../connectors/clickhouse/capture-gaps.ts');
    const gap = { sourceTable: 'public.t', slot: 's', reason: 'slot lost' as const, fromLsn: String(0x1a73f98), toLsn: String(0x15000000), fromTime: '2026-01-01T00:00:00.000Z', toTime: '2026-01-01T00:05:00.000Z', reloadLsn: null, recoveredBy: 'r' };
    expect(gapText(gap)).toBe(
      'changes committed after 0/1A73F98 and before 0/15000000 (between 2026-01-01T00:00:00.000Z and 2026-01-01T00:05:00.000Z) were not captured (slot lost); not reloaded yet: npm run resync -- public.t',
    );
    expect(gapText({ ...gap, fromTime: null, reloadLsn: String(0x15000010) })).toMatch(/\(until 2026-01-01T00:05:00.000Z\) .*; reloaded at 0\/15000010$/);
  });
});

describe('a resync target (a table another pipeline captures)', () => {
  it('is refused at once, without touching anything, when it is malformed or declares another table', async () => {
    const { createResyncActivities } = await import('../../activities/resync.ts');
    // Nothing may be reached: every dependency throws when used.
    const untouchable = new Proxy({}, { get: () => { throw new Error('touched'); } });
    const a = createResyncActivities({ pool: untouchable as never, clickhouse: untouchable as never, kafka: untouchable as never, endpoints: {} as never });
    const names = { database: 'bench', topicPrefix: 'bench' };
    await expect(a.abandonResync({ source: 'public.a', target: { declaration: { source: 'public.b' }, names, slot: 's' } })).rejects.toMatchObject({
      type: 'InvalidInput',
      nonRetryable: true,
      message: 'the target declares public.b, not public.a',
    });
    await expect(a.abandonResync({ source: 'public.a', target: { declaration: { source: 'public.a', exclude: 'x' } as never, names, slot: 's' } })).rejects.toMatchObject({
      type: 'InvalidInput',
      nonRetryable: true,
    });
  });
});
