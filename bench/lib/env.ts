/**
 * Addresses of the native DEV stack for the benchmark (never the test stack:
 * other engineers' tests use it). Environment variables override them.
 */
import { createContext } from '../../stack/lib/context.ts';
import { toolEnv } from '../../config/env.ts';
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
  const t = toolEnv();
  const superuser = t.benchPgUrl ?? (s.PG_SUPERUSER_URL ?? '').replace(/\/postgres$/, '/astros');
  const u = new URL(superuser);
  return {
    pgUrl: superuser,
    pgHost: u.hostname,
    pgPort: Number(u.port || 5432),
    clickhouseUrl: t.overrides.clickhouseUrl ?? s.CLICKHOUSE_URL,
    connectUrl: t.overrides.connectUrl ?? s.CONNECT_URL,
    kafkaBrokers: t.overrides.kafkaBrokers ?? s.KAFKA_BROKERS,
    registryCcompatUrl: `${t.overrides.registryUrl ?? s.REGISTRY_URL}/apis/ccompat/v7`,
    databaseUrl: t.overrides.databaseUrl ?? s.DATABASE_URL,
  };
}
