/** What the catalog reads Postgres through: a pool, a pooled client or a single client, made by connectors/postgres/pool.ts. */
import type pg from 'pg';

export type Queryable = pg.Pool | pg.PoolClient | pg.Client;
