/**
 * The live catalog in Postgres (public.captured_tables): the tables a running
 * pipeline follows. The repository's declarations (catalog/tables.ts) are
 * synced into it by `npm run setup`; a command or a test adds its own rows.
 */
import type { Queryable } from './db.ts';
import { groupOf, parseDeclarations, type TableDeclaration, type TableDeclarationInput } from './declaration.ts';
import { DEFAULT_GROUP, pipelineNames } from '../shared/names.ts';

export type Origin = 'repository' | 'command' | 'test';

/**
 * 'active': declared by the repository or a test and applied by `npm run setup`;
 * 'adding' -> 'streaming' (or 'blocked'): a table added by `astros tables add`;
 * 'dropped': Postgres no longer has it under its name (dropped or renamed: set by the
 * event triggers of db/init/30_schema_changes.sql, with the reason in last_error);
 * 'removed': not captured. Every state but 'removed' and 'dropped' is captured.
 */
export type TableState = 'active' | 'adding' | 'streaming' | 'blocked' | 'dropped' | 'removed';

export const isCaptured = (state: TableState): boolean => state !== 'removed' && state !== 'dropped';

/**
 * Captured and flowing into ClickHouse. A 'blocked' table stays captured (its events wait in
 * Kafka) but applying the catalog leaves its ClickHouse objects alone: a new consumer would read
 * what ClickHouse cannot take yet. Only its fix and `tables resume` (or a new `tables add`) unblock it.
 */
export const isFlowing = (state: TableState): boolean => isCaptured(state) && state !== 'blocked';

/** What applying the catalog says of a table it leaves alone. */
export const blockedLine = (source: string): string =>
  `${source} is blocked: its ClickHouse objects are left as they are (npm run tables -- list; fix, then npm run tables -- resume ${source})`;

/** What applying the catalog says of a table Postgres no longer has under its name. */
export const droppedLine = (source: string, reason: string | null | undefined): string =>
  `${source} is not captured: ${reason ?? 'it was dropped or renamed in Postgres'} (npm run tables -- list)`;

export interface CatalogEntry {
  declaration: TableDeclaration;
  origin: Origin;
  state: TableState;
  updatedAt: string;
  /** Why the table is blocked (the last failure of `tables add`). */
  lastError?: string | null;
}

type Db = Queryable;
const table = pipelineNames.catalogTable;

/**
 * Make the repository's rows equal to the file; rows it no longer names are marked removed. A captured
 * table that streams in another group than the file says is left where it is (a group changes only by a
 * remove and an add, which reloads the table): `kept` says so, with the way out.
 */
export async function syncRepositoryTables(db: Db, decls: TableDeclaration[]): Promise<{ upserted: string[]; removed: string[]; kept: string[] }> {
  const live = new Map((await catalogEntries(db)).filter((e) => isCaptured(e.state)).map((e) => [e.declaration.source, groupOf(e.declaration)]));
  const kept: string[] = [];
  const upserted: string[] = [];
  for (const d of decls) {
    const now = live.get(d.source);
    if (now !== undefined && now !== groupOf(d)) {
      kept.push(`${d.source} streams in group ${now}, catalog/tables.ts says ${groupOf(d)}: left in ${now} (declare group '${now}' in the file, or move it: npm run tables -- remove ${d.source}, then npm run tables -- add ${d.source} --group ${groupOf(d)})`);
      continue;
    }
    await declareTable(db, d, 'repository');
    upserted.push(d.source);
  }
  const { rows } = await db.query<{ source: string }>(
    `update ${table} set state = 'removed', updated_at = now()
      where origin = 'repository' and state = 'active' and not (source = any($1::text[])) returning source`,
    [decls.map((d) => d.source)],
  );
  return { upserted, removed: rows.map((r) => r.source), kept };
}

/** Add or replace one declaration (idempotent). A 'blocked' table stays blocked (isFlowing), a 'dropped' one dropped (only `tables add` takes it back). */
export async function declareTable(db: Db, decl: TableDeclarationInput, origin: Origin): Promise<TableDeclaration> {
  const [d] = parseDeclarations([decl], origin);
  await db.query(
    `insert into ${table} (source, declaration, origin) values ($1, $2, $3)
     on conflict (source) do update set declaration = excluded.declaration, origin = excluded.origin,
       state = case when ${table}.state in ('blocked', 'dropped') then ${table}.state else 'active' end,
       updated_at = case when ${table}.declaration = excluded.declaration and ${table}.state in ('active', 'blocked', 'dropped') then ${table}.updated_at else now() end`,
    [d!.source, JSON.stringify(d), origin],
  );
  return d!;
}

export async function removeTable(db: Db, source: string): Promise<boolean> {
  const r = await db.query(`update ${table} set state = 'removed', updated_at = now() where source = $1 and state <> 'removed'`, [source]);
  return (r.rowCount ?? 0) > 0;
}

export async function catalogEntries(db: Db): Promise<CatalogEntry[]> {
  const { rows } = await db.query<{ declaration: unknown; origin: Origin; state: TableState; updated_at: Date; last_error?: string | null }>(
    `select * from ${table} order by source`,
  );
  const decls = parseDeclarations(
    rows.map((r) => r.declaration),
    table,
  );
  return rows.map((r, i) => ({ declaration: decls[i]!, origin: r.origin, state: r.state, updatedAt: r.updated_at.toISOString(), lastError: r.last_error ?? null }));
}

export async function activeTables(db: Db): Promise<TableDeclaration[]> {
  return (await catalogEntries(db)).filter((e) => isCaptured(e.state)).map((e) => e.declaration);
}

/**
 * The captured tables by group, sorted by name; the default group is always there (its connector is the
 * pipeline's first, registered by setup). Every table belongs to exactly one group: its declaration's.
 */
export function groupsOf<T extends { declaration: { group?: string | undefined } }>(tables: T[]): Map<string, T[]> {
  const out = new Map<string, T[]>([[DEFAULT_GROUP, []]]);
  for (const t of tables) {
    const g = groupOf(t.declaration);
    out.set(g, [...(out.get(g) ?? []), t]);
  }
  return new Map([...out].sort(([a], [b]) => (a === DEFAULT_GROUP ? -1 : b === DEFAULT_GROUP ? 1 : a.localeCompare(b))));
}

/** Each captured table's group, by source (the lag report, the page, validation's catch-up look the slot up by it). */
export async function capturedGroups(db: Db): Promise<Map<string, string>> {
  return new Map((await catalogEntries(db)).filter((e) => isCaptured(e.state)).map((e) => [e.declaration.source, groupOf(e.declaration)]));
}

/**
 * `tables add`: declare a table in state 'adding' (origin 'command'). A row
 * that is 'adding' or 'blocked' is taken over (the add resumes); a captured
 * one ('active', 'streaming') is left alone and returned, for the caller to refuse.
 */
export async function beginAdd(db: Db, decl: TableDeclarationInput): Promise<{ declaration: TableDeclaration; conflict?: CatalogEntry }> {
  const [d] = parseDeclarations([decl], 'tables add');
  const existing = (await catalogEntries(db)).find((e) => e.declaration.source === d!.source);
  if (existing && (existing.state === 'active' || existing.state === 'streaming')) return { declaration: d!, conflict: existing };
  await db.query(
    `insert into ${table} (source, declaration, origin, state) values ($1, $2, 'command', 'adding')
     on conflict (source) do update set declaration = excluded.declaration, origin = 'command', state = 'adding', last_error = null, updated_at = now()`,
    [d!.source, JSON.stringify(d)],
  );
  return { declaration: d! };
}

export async function setTableState(db: Db, source: string, state: TableState, error: string | null = null): Promise<void> {
  await db.query(`update ${table} set state = $2, last_error = $3, updated_at = now() where source = $1`, [source, state, error]);
}
