/** Postgres COPY … TO STDOUT, streamed (pg-copy-streams): a resync reads a table's rows this way. */
import type pg from 'pg';
import { to as copyTo, type CopyToStreamQuery } from 'pg-copy-streams';

export type { CopyToStreamQuery };

/** Run `sql` (a COPY … TO STDOUT) on a connection of the pool; `fn` reads the stream, and the connection goes back after. */
export async function withCopyOut<T>(pool: pg.Pool, sql: string, fn: (out: CopyToStreamQuery) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await fn(client.query(copyTo(sql)));
  } finally {
    client.release();
  }
}
