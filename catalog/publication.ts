/**
 * Publication membership and what Debezium needs of each captured table,
 * derived from the catalog: the publication holds exactly the active tables
 * plus the heartbeat and signal tables; each table gets REPLICA IDENTITY FULL (whole old
 * rows in the WAL: unchanged TOASTed values and before-images of deletes
 * arrive) and SELECT for the CDC role (the initial snapshot reads it).
 */
import type pg from 'pg';
import type { SourceTable } from './introspect.ts';
import { pipelineNames } from './names.ts';

const CDC_ROLE = 'astros_cdc';

function qualified(source: string): string {
  return source
    .split('.')
    .map((p) => `"${p.replaceAll('"', '""')}"`)
    .join('.');
}

export class PrivilegeNeeded extends Error {
  override name = 'PrivilegeNeeded';
}

async function run(db: pg.Pool | pg.Client, sql: string, why: string): Promise<void> {
  try {
    await db.query(sql);
  } catch (err) {
    const e = err as { code?: string; message: string };
    if (e.code === '42501') throw new PrivilegeNeeded(`${why}: ${e.message}. Run as the table's owner or a superuser:\n  ${sql};`, { cause: err });
    throw err;
  }
}

export async function syncPublication(db: pg.Pool | pg.Client, tables: SourceTable[], log: (m: string) => void): Promise<void> {
  const pub = pipelineNames.publication;
  const { rows } = await db.query<{ name: string }>(`select schemaname || '.' || tablename as name from pg_publication_tables where pubname = $1`, [pub]);
  const have = new Set(rows.map((r) => r.name));
  const want = new Set([...tables.map((t) => t.source), pipelineNames.heartbeatTable, pipelineNames.signalTable]);
  for (const t of tables) {
    if (t.replicaIdentity !== 'f') {
      await run(db, `alter table ${qualified(t.source)} replica identity full`, `${t.source} needs REPLICA IDENTITY FULL`);
      log(`${t.source}: replica identity set to FULL`);
    }
    const role = await db.query(`select 1 from pg_roles where rolname = $1`, [CDC_ROLE]);
    if (role.rowCount) {
      await run(db, `grant usage on schema "${t.schema}" to ${CDC_ROLE}`, `the CDC role must reach schema ${t.schema}`);
      await run(db, `grant select on ${qualified(t.source)} to ${CDC_ROLE}`, `the CDC role must read ${t.source}`);
    }
  }
  for (const name of want) {
    if (have.has(name)) continue;
    await run(db, `alter publication ${pub} add table ${qualified(name)}`, `${name} must be in publication ${pub}`);
    log(`publication ${pub}: added ${name}`);
  }
  for (const name of have) {
    if (want.has(name)) continue;
    await run(db, `alter publication ${pub} drop table ${qualified(name)}`, `${name} is no longer captured`);
    log(`publication ${pub}: dropped ${name} (not in the catalog)`);
  }
}
