import { describe, expect, it } from 'vitest';
import { pgTransformed } from '../../catalog/transforms.ts';
import { validationTransforms } from '../../catalog/column-options.ts';
import { connectorFor, readConnectorFile } from '../../catalog/connector.ts';
import { historyModelSql } from '../../catalog/dbt-history.ts';
import { parseDeclarations } from '../../catalog/declaration.ts';
import type { SourceTable } from '../../catalog/introspect.ts';
import { tableNames } from '../../shared/names.ts';
import { validationSpec } from '../../catalog/validation-spec.ts';
import { declarationFromOptions } from '../../cli/tables.ts';
import { specFromOptions } from '../../cli/validate.ts';

const people: SourceTable = {
  source: 'public.people',
  schema: 'public',
  table: 'people',
  kind: 'r',
  replicaIdentity: 'f',
  owner: 'astros',
  columns: [
    { name: 'id', type: 'bigint', notNull: true, keyPosition: 1, comment: null },
    { name: 'name', type: 'text', notNull: true, keyPosition: null, comment: null },
    { name: 'email', type: 'character varying(20)', notNull: false, keyPosition: null, comment: null },
    { name: 'phone', type: 'text', notNull: false, keyPosition: null, comment: null },
    { name: 'amount', type: 'numeric(10,2)', notNull: false, keyPosition: null, comment: null },
    { name: 'ssn', type: 'text', notNull: false, keyPosition: null, comment: null },
  ],
};

const [decl] = parseDeclarations(
  [declarationFromOptions('public.people', { exclude: ['ssn'], hash: [['name', 'salt_1'], ['email', 'salt_1:SHA-512']], mask: [['phone', '4']] })],
  'test',
);

describe('column options', () => {
  it('become Debezium column settings, one per transform and parameter, with the signal table', () => {
    const c = connectorFor(readConnectorFile(), [decl!]).config;
    expect(c['column.exclude.list']).toBe('public\\.people\\.ssn');
    expect(c['column.mask.hash.v2.SHA-256.with.salt.salt_1']).toBe('public\\.people\\.name');
    expect(c['column.mask.hash.v2.SHA-512.with.salt.salt_1']).toBe('public\\.people\\.email');
    expect(c['column.mask.with.4.chars']).toBe('public\\.people\\.phone');
    expect(c['signal.data.collection']).toBe('public.cdc_signal');
    // A base that had transforms of a table no longer declared loses them.
    expect(Object.keys(connectorFor({ name: 'x', config: { ...c } }, [{ source: 'public.a', exclude: [], columns: {} }]).config).filter((k) => k.startsWith('column.'))).toEqual([]);
  });

  it('are refused when they clash: two transforms, transformed and excluded, a transformed key', () => {
    expect(() => parseDeclarations([{ source: 'public.a', columns: { b: { mask: 3, truncate: 2 } } }], 'here')).toThrow(/at most one of hash, mask, truncate/);
    expect(() => parseDeclarations([{ source: 'public.a', exclude: ['b'], columns: { b: { mask: 3 } } }], 'here')).toThrow(/both excluded and transformed/);
    expect(() => parseDeclarations([{ source: 'public.a', key: ['b'], columns: { b: { truncate: 3 } } }], 'here')).toThrow(/key column b cannot be transformed/);
    expect(() => parseDeclarations([{ source: 'public.a', columns: { b: { hash: { salt: 'a.b' } } } }], 'here')).toThrow(/salt/);
  });

  it('are recomputed by validation on the Postgres side (hash cut to the column length)', () => {
    const t = validationTransforms(decl!, people);
    expect(t).toEqual({
      name: { kind: 'hash', algorithm: 'sha256', salt: 'salt_1' },
      email: { kind: 'hash', algorithm: 'sha512', salt: 'salt_1', length: 20 },
      phone: { kind: 'mask', chars: 4 },
    });
    expect(pgTransformed('"email"::text', t.email!)).toBe(`left(encode(sha512(convert_to('salt_1', 'UTF8') || convert_to("email"::text, 'UTF8')), 'hex'), 20)`);
    expect(pgTransformed('v', t.phone!)).toBe(`repeat('*', 4)`);
    expect(pgTransformed('v', { kind: 'truncate', chars: 5 })).toBe('left(v, 5)');
  });
});

describe('tables add', () => {
  it('generates an SCD2 model calling the macro with the key and the columns ClickHouse holds', () => {
    const sql = historyModelSql(decl!, people);
    expect(sql).toContain(`changes=env_var('ASTROS_SOURCE_DATABASE', 'astros') ~ '.people_changes'`);
    expect(sql).toContain(`key=['id']`);
    expect(sql).toContain(`columns=['name', 'email', 'phone', 'amount', 'amount_text']`);
  });
});

describe('validate --table', () => {
  const options = { table: 'public.people', sourceSchema: 'public', targetDatabase: 'astros', versionColumn: 'version', deletedColumn: 'is_deleted', catchUp: 'slot', slot: 'astros_slot', buckets: 1024, maxWait: 60, maxKeys: 20, timeout: 60_000 } as const;
  const catalog = validationSpec(decl!, people, tableNames('public.people'));

  it("compares what the workflows compare: numeric(p,s) as <col>_text (NaN is there, NULL in the Decimal), late commits told apart by the change log", () => {
    const spec = specFromOptions({ ...options }, catalog);
    expect(spec.target).toEqual(catalog.target);
    expect(spec.target.columns).toEqual({ amount: 'amount_text' });
    expect(spec.target.changesTable).toBe('people_changes');
    expect(spec.source).toEqual(catalog.source);
  });

  it('still takes the version and deleted columns from the options (empty: none)', () => {
    const spec = specFromOptions({ ...options, versionColumn: '', deletedColumn: 'gone' }, catalog);
    expect(spec.target).not.toHaveProperty('versionColumn');
    expect(spec.target.deletedColumn).toBe('gone');
    expect(spec.target.columns).toEqual({ amount: 'amount_text' });
  });
});
