/**
 * Addresses of the native DEV stack for the benchmark (never the test stack:
 * other engineers' tests use it). Environment variables override them.
 */
import { createContext } from '../../stack/lib/context.ts';
import { stackEnv } from '../../stack/lib/endpoints.ts';

export interface BenchEnv {
  /** superuser on the astros database: creates the bench tables, runs the workload */
  pgUrl: string;
  pgHost: string;
  pgPort: number;
  clickhouseUrl: string;
  connectUrl: string;
  kafkaBrokers: string;
  /** the registry's Confluent-compatible API, as ClickHouse's AvroConfluent reads it */
  registryCcompatUrl: string;
  /** for validate.ts (app role) */
  databaseUrl: string;
}

export function benchEnv(): BenchEnv {
  const s = stackEnv(createContext('dev'));
  const superuser = process.env.BENCH_PG_URL ?? (s.PG_SUPERUSER_URL ?? '').replace(/\/postgres$/, '/astros');
  const u = new URL(superuser);
  return {
    pgUrl: superuser,
    pgHost: u.hostname,
    pgPort: Number(u.port || 5432),
    clickhouseUrl: process.env.CLICKHOUSE_URL ?? s.CLICKHOUSE_URL,
    connectUrl: process.env.CONNECT_URL ?? s.CONNECT_URL,
    kafkaBrokers: process.env.KAFKA_BROKERS ?? s.KAFKA_BROKERS,
    registryCcompatUrl: `${process.env.REGISTRY_URL ?? s.REGISTRY_URL}/apis/ccompat/v7`,
    databaseUrl: process.env.DATABASE_URL ?? s.DATABASE_URL,
  };
}
