/**
 * `ON CLUSTER <name>` on a DDL statement, so that one statement sent to one
 * host of a ClickHouse cluster runs on every host (distributed DDL through
 * Keeper). Every DDL statement the pipeline generates goes through here when a
 * cluster is configured (CLICKHOUSE_CLUSTER): the catalog's objects, the
 * reconcile plan's ALTERs and DROPs, and the numbered migrations in
 * clickhouse-ddl/. Without a cluster the statement is returned unchanged, so
 * the single-host SQL is byte for byte what it was.
 *
 * The clause goes where ClickHouse's grammar wants it: after the object name
 * of CREATE / DROP / TRUNCATE / ALTER / OPTIMIZE, after both names of
 * EXCHANGE TABLES, after the last pair of RENAME TABLE. Anything else (SELECT,
 * INSERT, DELETE, SYSTEM) is not DDL and is returned as it is; so is a
 * statement that already says ON CLUSTER.
 */
import { ident } from './column-types.ts';

const name = '(?:`(?:[^`\\\\]|\\\\.)*`|[A-Za-z_][A-Za-z0-9_$]*)';
const qualified = `${name}(?:\\.${name})?`;

/** The head of each DDL statement the pipeline writes, up to where ON CLUSTER goes. */
const heads: readonly RegExp[] = [
  `CREATE\\s+(?:OR\\s+REPLACE\\s+)?(?:TABLE|MATERIALIZED\\s+VIEW|VIEW|DATABASE|DICTIONARY)\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?${qualified}`,
  `(?:DROP|TRUNCATE|DETACH|ATTACH)\\s+(?:TABLE|VIEW|DATABASE|DICTIONARY)\\s+(?:IF\\s+(?:NOT\\s+)?EXISTS\\s+)?${qualified}`,
  `(?:ALTER|OPTIMIZE)\\s+TABLE\\s+${qualified}`,
  `EXCHANGE\\s+TABLES\\s+${qualified}\\s+AND\\s+${qualified}`,
  `RENAME\\s+TABLE\\s+${qualified}\\s+TO\\s+${qualified}(?:\\s*,\\s*${qualified}\\s+TO\\s+${qualified})*`,
].map((h) => new RegExp(`^(\\s*${h})`, 'i'));

export function onCluster(sql: string, cluster: string | undefined): string {
  if (cluster === undefined) return sql;
  for (const head of heads) {
    const m = head.exec(sql);
    if (!m) continue;
    const rest = sql.slice(m[1]!.length);
    return /^\s+ON\s+CLUSTER\b/i.test(rest) ? sql : `${m[1]} ON CLUSTER ${ident(cluster)}${rest}`;
  }
  return sql;
}
