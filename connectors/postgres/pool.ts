/**
 * Postgres connections (node-postgres): the one place they are made. A pool
 * for long-lived processes (the worker, the monitor), one client for a
 * command's few statements.
 */
import pg from 'pg';

export type { default as pg } from 'pg';

export interface PoolOptions {
  /** Unqualified table names resolve in this schema (tests use throw-away schemas); default: the role's search_path. */
  schema?: string;
  max?: number;
  /** Shown in pg_stat_activity. */
  application: string;
  connectTimeoutMs?: number;
  /** Where a lost idle connection is reported (default console.warn). */
  log?: (m: string) => void;
}

export function createPool(databaseUrl: string, opts: PoolOptions): pg.Pool {
  return survivePostgresRestarts(
    new pg.Pool({
      connectionString: databaseUrl,
      max: opts.max ?? 4,
      ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
      application_name: opts.application,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    }),
    opts.log,
  );
}

/**
 * A Postgres restart ends every connection, and pg reports that as an
 * 'error' event: on the pool for an idle client, on the client itself for
 * one that is checked out. An 'error' event nobody listens to ends the
 * process, so both get a listener. The pool drops the broken client and
 * connects again on next use; a query in flight fails on its own (its
 * activity is retried by Temporal).
 */
export function survivePostgresRestarts(pool: pg.Pool, log: (m: string) => void = (m) => console.warn(m)): pg.Pool {
  pool.on('error', (err) => log(`postgres: an idle connection was lost (${err.message}); the next query connects again`));
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** The server did not take the connection (down, wrong address or password): the message names where, without the password. */
export class PostgresUnreachable extends Error {
  override name = 'PostgresUnreachable';
}

/** One connection for `fn`, closed after it; a lost connection fails the statement in flight (which says what happened). */
export async function withPostgres<T>(databaseUrl: string, application: string, fn: (db: pg.Client) => Promise<T>, connectTimeoutMs = 10_000): Promise<T> {
  const db = new pg.Client({ connectionString: databaseUrl, application_name: application, connectionTimeoutMillis: connectTimeoutMs });
  db.on('error', () => undefined);
  await db.connect().catch((err: unknown) => {
    throw new PostgresUnreachable(`cannot reach Postgres at ${databaseUrl.replace(/:[^:@/]*@/, ':***@')} (${(err as Error).message})`, { cause: err });
  });
  try {
    return await fn(db);
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** Anything that runs a query: a pool, a pooled client, a single client. */
export type { Queryable } from '../../catalog/db.ts';
