/**
 * What the live Postgres catalog says about a captured table: its columns in
 * order with their types, nullability and primary-key position, its replica
 * identity and kind. The declaration names the table; this supplies the rest.
 */
import type pg from 'pg';
import { splitSource } from './names.ts';

export interface SourceColumn {
  name: string;
  /** format_type() of the column, or of a domain's base type. */
  type: string;
  notNull: boolean;
  /** 1-based position in the primary key, or null. */
  keyPosition: number | null;
  comment: string | null;
}

export interface SourceTable {
  source: string;
  schema: string;
  table: string;
  /** 'r' ordinary, 'p' partitioned. */
  kind: string;
  /** 'd' default, 'f' full, 'i' index, 'n' nothing. */
  replicaIdentity: string;
  owner: string;
  columns: SourceColumn[];
}

export class SourceTableMissing extends Error {
  override name = 'SourceTableMissing';
}

export async function introspectTable(db: pg.Pool | pg.Client, source: string): Promise<SourceTable> {
  const { schema, table } = splitSource(source);
  const rel = await db.query<{ oid: number; kind: string; replident: string; owner: string }>(
    `select c.oid, c.relkind::text as kind, c.relreplident::text as replident, pg_get_userbyid(c.relowner) as owner
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')`,
    [schema, table],
  );
  const r = rel.rows[0];
  if (!r) throw new SourceTableMissing(`Postgres has no table ${source} (create it first, or fix the declaration in the catalog)`);
  const cols = await db.query<{ name: string; type: string; not_null: boolean; key_position: number | null; comment: string | null }>(
    `select a.attname as name,
            case when t.typtype = 'd' then format_type(t.typbasetype, t.typtypmod) else format_type(a.atttypid, a.atttypmod) end as type,
            a.attnotnull as not_null,
            array_position(i.indkey::int2[], a.attnum) as key_position,
            col_description(a.attrelid, a.attnum) as comment
       from pg_attribute a
       join pg_type t on t.oid = a.atttypid
       left join pg_index i on i.indrelid = a.attrelid and i.indisprimary
      where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped
      order by a.attnum`,
    [r.oid],
  );
  return {
    source,
    schema,
    table,
    kind: r.kind,
    replicaIdentity: r.replident,
    owner: r.owner,
    columns: cols.rows.map((c) => ({ name: c.name, type: c.type, notNull: c.not_null, keyPosition: c.key_position, comment: c.comment })),
  };
}
