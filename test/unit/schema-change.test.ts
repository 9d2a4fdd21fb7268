import { describe, expect, it } from 'vitest';
import { tableObjects } from '../../catalog/clickhouse-objects.ts';
import { parseDeclarations } from '../../catalog/declaration.ts';
import type { SourceTable } from '../../catalog/introspect.ts';
import { tableNames } from '../../shared/names.ts';
import { planSchemaChange, refusalMessage, widens, type ShapeColumn, type TableShape } from '../../catalog/schema-change.ts';
import { formatAge } from '../../shared/duration.ts';

const sink = { kafkaBrokers: ['k:9092'], registryUrl: 'http://r', retention: { changelogMs: 86_400_000, errorsMs: 86_400_000, topicMs: 7 * 86_400_000 } };
const [decl] = parseDeclarations([{ source: 'public.items' }], 'test');

/** The table as Postgres has it now, and the objects the catalog derives from it. */
function table(columns: [string, string][]) {
  const src = {
    source: 'public.items',
    schema: 'public',
    table: 'items',
    owner: 'astros',
    kind: 'r',
    replicaIdentity: 'f',
    columns: columns.map(([name, type], i) => ({ name, type, notNull: i === 0, keyPosition: i === 0 ? 1 : null, comment: null })),
  } as SourceTable;
  return tableObjects(decl!, src, tableNames('public.items'), sink);
}
const col = (attnum: number, name: string, type: string, extra: Partial<ShapeColumn> = {}): ShapeColumn => ({ attnum, name, type, notnull: false, default: null, missing: false, ...extra });
const shape = (...columns: ShapeColumn[]): TableShape => ({ columns, key: ['id'], identity: 'f' });
/** What ClickHouse holds: the current state of the table as it was. */
const liveOf = (columns: [string, string][]) => table(columns).current.columns.map((c) => ({ name: c.name, type: c.type }));

const before = shape(col(1, 'id', 'bigint', { notnull: true }), col(2, 'name', 'text'), col(3, 'n', 'smallint'));
const was: [string, string][] = [
  ['id', 'bigint'],
  ['name', 'text'],
  ['n', 'smallint'],
];

describe('schema changes: what an ALTER TABLE means for ClickHouse', () => {
  it('an added column: NULL for older rows, a stored constant, or a rewrite (the last two reload the table)', () => {
    for (const [extra, fill, reload] of [
      [{}, 'null', false],
      [{ default: "'dflt'::text", missing: true }, 'constant', true],
      [{ default: 'now()' }, 'rewrite', true],
    ] as const) {
      const now: [string, string][] = [...was, ['note', 'text']];
      const plan = planSchemaChange(before, shape(...before.columns, col(4, 'note', 'text', extra)), table(now), liveOf(was), 'id');
      expect(plan).toEqual({ steps: [{ kind: 'add', column: 'note', fill }], reload });
    }
  });

  it('a rename is told from a drop and an add by its attnum; a drop leaves the change log alone', () => {
    const renamed = planSchemaChange(before, shape(before.columns[0]!, col(2, 'title', 'text'), before.columns[2]!), table([was[0]!, ['title', 'text'], was[2]!]), liveOf(was), 'id');
    expect(renamed).toEqual({ steps: [{ kind: 'rename', from: 'name', to: 'title', outputs: [['name', 'title']] }], reload: true });
    const dropped = planSchemaChange(before, shape(before.columns[0]!, before.columns[1]!), table([was[0]!, was[1]!]), liveOf(was), 'id');
    expect(dropped.steps).toEqual([{ kind: 'drop', column: 'n', outputs: ['n'] }]);
  });

  it('widens integers and decimals; refuses what ClickHouse cannot take, and a key change', () => {
    const widened = planSchemaChange(before, shape(before.columns[0]!, before.columns[1]!, col(3, 'n', 'integer')), table([was[0]!, was[1]!, ['n', 'integer']]), liveOf(was), 'id');
    expect(widened.steps).toEqual([{ kind: 'widen', column: 'n', from: 'Nullable(Int16)', to: 'Nullable(Int32)' }]);
    const toText = planSchemaChange(before, shape(before.columns[0]!, before.columns[1]!, col(3, 'n', 'text')), table([was[0]!, was[1]!, ['n', 'text']]), liveOf(was), 'id');
    expect(toText.refused).toMatch(/^column n changed type \(now text in Postgres\): ClickHouse holds Nullable\(Int16\) and cannot take Nullable\(String\)/);
    // Changed back to what ClickHouse holds: nothing to do.
    expect(planSchemaChange(undefined, before, table(was), liveOf(was), 'id')).toEqual({ steps: [], reload: false });
    expect(planSchemaChange(before, { ...before, key: ['name'] }, table(was), liveOf(was), 'id').refused).toMatch(/primary key changed from \(id\) to \(name\)/);
    expect(widens('Int16', 'Int64')).toBe(true);
    expect(widens('Int64', 'Int32')).toBe(false);
    expect(widens('Decimal(8, 2)', 'Decimal(12, 2)')).toBe(true);
    expect(widens('Decimal(8, 2)', 'Decimal(12, 3)')).toBe(false);
    expect(widens('Nullable(String)', 'String')).toBe(false);
    expect(widens('String', 'Nullable(String)')).toBe(true);
  });

  it('a refusal names the table, the change, the fix and how long Kafka keeps the waiting changes', () => {
    expect(refusalMessage({ source: 'public.items', ddl: 'alter table items\n  alter column n type text' }, 'column n changed type', 7 * 86_400_000)).toBe(
      'public.items: schema change refused: column n changed type. The change: alter table items alter column n type text. Its stream is stopped and its changes wait in Kafka (the topic keeps them for 7d); ' +
        'fix: undo the change in Postgres and run npm run tables -- resume public.items, or rebuild the copy: npm run tables -- remove public.items --drop, then npm run tables -- add public.items',
    );
    expect([formatAge(7 * 86_400_000 - 3_600_000), formatAge(7 * 86_400_000), formatAge(125_000), formatAge(9_000)]).toEqual(['6 d 23 h', '7 d', '2 min 5 s', '9 s']);
  });
});
