/**
 * Publication membership and what Debezium needs of each captured table,
 * derived from the catalog: the publication holds exactly the active tables
 * plus the heartbeat and signal tables; each table gets REPLICA IDENTITY FULL (whole old
 * rows in the WAL: unchanged TOASTed values and before-images of deletes
 * arrive) and SELECT for the CDC role (the initial snapshot reads it).
 * The only place membership is decided; connectors/postgres/publication.ts
 * reads the state this plans from and runs the plan.
 *
 * Partitioned tables: the publication publishes through the partition root
 * (publish_via_partition_root), so every partition's changes, those of
 * partitions attached later included, arrive as the root table's: one topic,
 * one set of ClickHouse objects. The old row of an update or delete comes from
 * the partition's own replica identity, so every partition gets FULL too
 * (setup again after attaching a partition).
 *
 * TRUNCATE: Debezium skips it by default (skipped.operations) and
 * ExtractNewRecordState drops truncate events in any case, so ClickHouse would
 * silently keep every row. Each captured table (and each partition) gets a
 * BEFORE TRUNCATE trigger that refuses it with the reason and what to do.
 */
import { groupNames, pipelineNames, type GroupNames } from '../shared/names.ts';
import type { SourceTable } from './introspect.ts';

export const TRUNCATE_GUARD = 'astros_refuse_truncate';

export interface RelationState {
  /** Qualified name as Postgres prints it (regclass). */
  name: string;
  /** pg_class.relreplident: 'f' is FULL. */
  replident: string;
  /** Has the TRUNCATE guard trigger. */
  guarded: boolean;
}

export interface PublicationState {
  publication: string;
  /** `schema.table` of every published table. */
  members: Set<string>;
  /** publish_via_partition_root; undefined when the publication does not exist. */
  viaRoot: boolean | undefined;
  /** Whether the CDC role exists (a docker volume made before it did, or a bare server, may lack it). */
  cdcRoleExists: boolean;
  /** Per wanted table (`schema.table`): itself and, when partitioned, every partition below it. */
  relations: Map<string, RelationState[]>;
  /** Per published table: itself and its partitions that carry the guard trigger. */
  guarded: Map<string, string[]>;
}

/** A statement to run, why (for a refusal), and what to say once it ran. */
export interface Statement {
  sql: string;
  why: string;
  say?: string;
}


const guardFunctionSql = `create or replace function public.${TRUNCATE_GUARD}() returns trigger language plpgsql as $$
begin
  raise exception 'TRUNCATE of %.% is refused: the table is captured by the CDC pipeline and a TRUNCATE would not reach ClickHouse', tg_table_schema, tg_table_name
    using hint = 'DELETE the rows instead (every delete reaches ClickHouse), or stop capturing the table first (npm run catalog, then npm run setup).',
          errcode = 'feature_not_supported';
end
$$`;

const quoted = (source: string): string =>
  source
    .split('.')
    .map((p) => `"${p.replaceAll('"', '""')}"`)
    .join('.');

/** The tables a group's publication must hold: its captured ones, its heartbeat and (the default group's) the signal table. */
export const publicationMembers = (tables: SourceTable[], g: GroupNames = groupNames()): string[] => [
  ...tables.map((t) => t.source),
  g.heartbeatTable,
  ...(g.signalTable ? [g.signalTable] : []),
];

/**
 * The statements that bring a group's publication and its captured tables to what the catalog says, in
 * order. A group's publication is created here (the default group's by db/migrations/postgres/090).
 */
export function planPublication(state: PublicationState, tables: SourceTable[], g: GroupNames = groupNames()): Statement[] {
  const pub = state.publication;
  const role = pipelineNames.cdcRole;
  const want = new Set(publicationMembers(tables, g));
  const out: Statement[] = [];
  if (state.viaRoot === undefined) {
    out.push({ sql: `create publication ${pub} with (publish_via_partition_root = true)`, why: `group ${g.group} needs its publication ${pub}`, say: `publication ${pub} created (group ${g.group})` });
  }
  if (state.viaRoot === false) {
    out.push({ sql: `alter publication ${pub} set (publish_via_partition_root = true)`, why: `publication ${pub} must publish partitions as their root table`, say: `publication ${pub}: publish_via_partition_root = true` });
  }
  if (tables.length > 0) out.push({ sql: guardFunctionSql, why: 'the TRUNCATE guard function' });
  for (const t of tables) {
    for (const part of state.relations.get(t.source) ?? []) {
      if (part.replident !== 'f') out.push({ sql: `alter table ${part.name} replica identity full`, why: `${part.name} needs REPLICA IDENTITY FULL`, say: `${part.name}: replica identity set to FULL` });
      if (!part.guarded) {
        out.push({
          sql: `create trigger ${TRUNCATE_GUARD} before truncate on ${part.name} for each statement execute function public.${TRUNCATE_GUARD}()`,
          why: `${part.name} must refuse TRUNCATE`,
          say: `${part.name}: TRUNCATE refused (trigger ${TRUNCATE_GUARD})`,
        });
      }
    }
    if (state.cdcRoleExists) {
      out.push({ sql: `grant usage on schema "${t.schema}" to ${role}`, why: `the CDC role must reach schema ${t.schema}` });
      out.push({ sql: `grant select on ${quoted(t.source)} to ${role}`, why: `the CDC role must read ${t.source}` });
    }
  }
  for (const name of want) {
    if (!state.members.has(name)) out.push({ sql: `alter publication ${pub} add table ${quoted(name)}`, why: `${name} must be in publication ${pub}`, say: `publication ${pub}: added ${name}` });
  }
  for (const name of state.members) {
    if (want.has(name)) continue;
    out.push({ sql: `alter publication ${pub} drop table ${quoted(name)}`, why: `${name} is no longer captured`, say: `publication ${pub}: dropped ${name} (not in the catalog)` });
    for (const g of state.guarded.get(name) ?? []) out.push({ sql: `drop trigger if exists ${TRUNCATE_GUARD} on ${g}`, why: `${g} is no longer captured` });
  }
  return out;
}
