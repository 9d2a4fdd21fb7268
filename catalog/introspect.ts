/**
 * What the live Postgres catalog says about a captured table: its columns in
 * order with their types, nullability and primary-key position, its replica
 * identity and kind. The declaration names the table; this supplies the rest.
 */
import type { Queryable } from './db.ts';
import { splitSource } from '../shared/names.ts';

export interface SourceColumn {
  name: string;
  /** format_type() of the column, or of a domain's base type (domains over domains resolved to the end). */
  type: string;
  /** The type (an array's element type) is an enum: its labels travel as text. */
  enumType?: boolean;
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

/**
 * A subquery giving `type` (format_type of the type, a domain resolved to its
 * base type, through domains over domains, with the nearest type modifier)
 * and `enum_type` (the type, or an array's element type, is an enum) of the
 * type oid and modifier expressions given. Shared with validation's catalog query.
 */
export function baseTypeSql(typeOid: string, typmod: string): string {
  return `with recursive d(oid, typmod, depth) as (
             select ${typeOid}, ${typmod}, 0
             union all
             select t.typbasetype, case when d.typmod = -1 then t.typtypmod else d.typmod end, d.depth + 1
               from d join pg_type t on t.oid = d.oid where t.typtype = 'd')
           select format_type(d.oid, d.typmod) as type,
                  coalesce((select e.typtype = 'e' from pg_type bt join pg_type e on e.oid = case when bt.typelem <> 0 and bt.typlen = -1 then bt.typelem else bt.oid end
                             where bt.oid = d.oid), false) as enum_type
             from d order by d.depth desc limit 1`;
}

export class SourceTableMissing extends Error {
  override name = 'SourceTableMissing';
}

export async function introspectTable(db: Queryable, source: string): Promise<SourceTable> {
  const { schema, table } = splitSource(source);
  const rel = await db.query<{ oid: number; kind: string; replident: string; owner: string }>(
    `select c.oid, c.relkind::text as kind, c.relreplident::text as replident, pg_get_userbyid(c.relowner) as owner
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')`,
    [schema, table],
  );
  const r = rel.rows[0];
  if (!r) throw new SourceTableMissing(`Postgres has no table ${source} (create it first, or fix the declaration in the catalog)`);
  const cols = await db.query<{ name: string; type: string; enum_type: boolean; not_null: boolean; key_position: number | null; comment: string | null }>(
    `select a.attname as name, b.type, b.enum_type,
            a.attnotnull as not_null,
            array_position(i.indkey::int2[], a.attnum) as key_position,
            col_description(a.attrelid, a.attnum) as comment
       from pg_attribute a
       cross join lateral (${baseTypeSql('a.atttypid', 'a.atttypmod')}) b
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
    columns: cols.rows.map((c) => ({
      name: c.name,
      type: c.type,
      ...(c.enum_type ? { enumType: true } : {}),
      notNull: c.not_null,
      keyPosition: c.key_position,
      comment: c.comment,
    })),
  };
}
