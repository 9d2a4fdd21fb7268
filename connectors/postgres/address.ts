/**
 * Where a pool connects, for a ClickHouse host that must reach the same
 * database as the same role (a resync's range is pulled by ClickHouse itself:
 * catalog/resync-load-sql.ts). The ClickHouse host runs beside the worker, so
 * the worker's address is its address too.
 */
import type pg from 'pg';
import type { PgAddress } from '../../catalog/resync-load-sql.ts';

export function pgAddress(pool: pg.Pool): PgAddress {
  const o = pool.options;
  const url = o.connectionString ? new URL(o.connectionString) : undefined;
  const host = url ? decodeURIComponent(url.hostname) || url.searchParams.get('host') || '' : (o.host ?? '');
  const address: PgAddress = {
    host: host.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url ? url.port || url.searchParams.get('port') || 5432 : (o.port ?? 5432)),
    database: url ? decodeURIComponent(url.pathname.slice(1)) : (o.database ?? ''),
    user: url ? decodeURIComponent(url.username) : (o.user ?? ''),
    password: url ? decodeURIComponent(url.password) : typeof o.password === 'string' ? o.password : '',
  };
  // A Unix socket is the worker's own: a ClickHouse host reads over TCP.
  if (!address.host || address.host.startsWith('/')) throw new Error('the source database is reached through a Unix socket; a resync needs its TCP address (host and port in its URL)');
  return address;
}
