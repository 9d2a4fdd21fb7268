/**
 * ClickHouse over its HTTP interface (@clickhouse/client): the one place a
 * client is made, with the project's settings (no client logging: failures
 * reach the caller as errors), and rows of a query.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';

export type { ClickHouseClient };

export interface ClickHouseOptions {
  /** Longest a request may take (a load or a mutation waits long; a probe does not). */
  requestTimeoutMs: number;
  /** Default database of unqualified names. */
  database?: string;
}

export function createClickHouse(url: string, opts: ClickHouseOptions): ClickHouseClient {
  return createClient({ url, request_timeout: opts.requestTimeoutMs, ...(opts.database ? { database: opts.database } : {}), log: { level: ClickHouseLogLevel.OFF } });
}

/** Rows of a ClickHouse query (with these settings, when the rows' text depends on them). */
export async function chRows<T>(ch: ClickHouseClient, query: string, params: Record<string, unknown> = {}, settings?: ClickHouseSettings): Promise<T[]> {
  return (await ch.query({ query, query_params: params, format: 'JSONEachRow', ...(settings ? { clickhouse_settings: settings } : {}) })).json<T>();
}
