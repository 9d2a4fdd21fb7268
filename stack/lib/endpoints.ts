import { dbtExecutable, dbtPython } from '../components/dbt.ts';
import { backupsDir } from '../components/clickhouse.ts';
import { databaseUrl } from '../components/postgres.ts';
import { s3Endpoint, seaweedCredentials } from '../components/seaweedfs.ts';
import type { StackContext } from './types.ts';

/**
 * The addresses of a running native stack, as the environment variables the
 * worker, the CLIs and the tests read (see .env.example).
 */
export interface StackEnv {
  [name: string]: string;
  DATABASE_URL: string;
  CLICKHOUSE_URL: string;
  CONNECT_URL: string;
  KAFKA_BROKERS: string;
  REGISTRY_URL: string;
  TEMPORAL_ADDRESS: string;
  ASTROS_SOURCE_URL: string;
  SIMULATOR_URL: string;
  DBT_EXECUTABLE: string;
}

export function stackEnv(ctx: StackContext): StackEnv {
  const p = ctx.ports;
  const s3 = seaweedCredentials(ctx);
  return {
    DATABASE_URL: databaseUrl(ctx, 'app'),
    PG_SUPERUSER_URL: databaseUrl(ctx, 'superuser'),
    TEMPORAL_ADDRESS: `127.0.0.1:${p.temporal}`,
    TEMPORAL_UI_URL: `http://127.0.0.1:${p.temporalUi}`,
    CLICKHOUSE_URL: `http://127.0.0.1:${p.clickhouseHttp}`,
    KAFKA_BROKERS: `127.0.0.1:${p.kafka}`,
    CONNECT_URL: `http://127.0.0.1:${p.connect}`,
    REGISTRY_URL: `http://127.0.0.1:${p.registry}`,
    SIMULATOR_URL: `http://127.0.0.1:${p.simulator}`,
    MONITOR_PORT: String(p.monitor),
    MONITOR_URL: `http://127.0.0.1:${p.monitor}`,
    PROMETHEUS_URL: `http://127.0.0.1:${p.prometheus}`,
    ASTROS_SOURCE_URL: `http://127.0.0.1:${p.simulator}/astros.json`,
    DBT_PYTHON: dbtPython(ctx),
    DBT_EXECUTABLE: dbtExecutable(ctx),
    // Backups: the directory this stack's ClickHouse may write, pg_basebackup as the replication role, the SeaweedFS S3 API.
    BACKUP_TARGET: backupsDir(ctx),
    BACKUP_PG_URL: databaseUrl(ctx, 'cdc'),
    BACKUP_S3_ENDPOINT: s3Endpoint(ctx),
    ...(s3 ? { BACKUP_S3_ACCESS_KEY_ID: s3.accessKeyId, BACKUP_S3_SECRET_ACCESS_KEY: s3.secretAccessKey } : {}),
  };
}
