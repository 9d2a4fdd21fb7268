/**
 * The publication as Postgres has it, and statements run against it. What
 * the publication should hold is the catalog's to say (catalog/publication.ts
 * plans the statements from this state); this module only reads and runs.
 */
import type { PublicationState, RelationState, Statement } from '../../catalog/publication.ts';
import type { Queryable } from './pool.ts';

export function qualified(source: string): string {
  return source
    .split('.')
    .map((p) => `"${p.replaceAll('"', '""')}"`)
    .join('.');
}

/** Read what the plan needs: members, options, the role, and each wanted table's relations. */
export async function readPublicationState(db: Queryable, publication: string, wanted: string[], cdcRole: string, guard: string): Promise<PublicationState> {
  const { rows } = await db.query<{ name: string }>(`select schemaname || '.' || tablename as name from pg_publication_tables where pubname = $1`, [publication]);
  const members = new Set(rows.map((r) => r.name));
  const [options] = (await db.query<{ viaroot: boolean }>(`select pubviaroot as viaroot from pg_publication where pubname = $1`, [publication])).rows;
  const role = await db.query(`select 1 from pg_roles where rolname = $1`, [cdcRole]);
  const relations = new Map<string, RelationState[]>();
  for (const source of wanted) {
    const { rows: parts } = await db.query<RelationState>(
      `select c.oid::regclass::text as name, c.relreplident::text as replident,
              exists (select 1 from pg_trigger g where g.tgrelid = c.oid and g.tgname = $2) as guarded
         from pg_class c where c.oid = $1::regclass or c.oid in (select relid from pg_partition_tree($1::regclass))`,
      [qualified(source), guard],
    );
    relations.set(source, parts);
  }
  const guarded = new Map<string, string[]>();
  for (const member of members) {
    const { rows: g } = await db.query<{ name: string }>(
      `select g.tgrelid::regclass::text as name from pg_trigger g
        where g.tgname = $2 and (g.tgrelid = $1::regclass or g.tgrelid in (select relid from pg_partition_tree($1::regclass)))`,
      [qualified(member), guard],
    );
    guarded.set(member, g.map((x) => x.name));
  }
  return { publication, members, viaRoot: options?.viaroot, cdcRoleExists: (role.rowCount ?? 0) > 0, relations, guarded };
}

/** Run as the owner or a superuser would have to: a refusal (42501) says so and names the statement. */
export class PrivilegeNeeded extends Error {
  override name = 'PrivilegeNeeded';
}

export async function runStatements(db: Queryable, statements: Statement[], log: (m: string) => void): Promise<void> {
  for (const s of statements) {
    try {
      await db.query(s.sql);
    } catch (err) {
      const e = err as { code?: string; message: string };
      if (e.code === '42501') throw new PrivilegeNeeded(`${s.why}: ${e.message}. Run as the table's owner or a superuser:\n  ${s.sql};`, { cause: err });
      throw err;
    }
    if (s.say) log(s.say);
  }
}
