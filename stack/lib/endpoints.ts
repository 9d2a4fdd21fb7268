import { config } from '../../config/load.ts';
import { profileAddresses, profileBackup, profileSettings } from '../../config/profiles.ts';
import { dbtExecutable, dbtPython } from '../components/dbt.ts';
import { pgCredentials } from '../components/postgres.ts';
import type { StackContext } from './types.ts';

/**
 * The addresses of a running native stack, as the environment variables the
 * worker, the CLIs and the tests read (see .env.example): the profile's
 * addresses (config/profiles.ts) with this stack's passwords, and its dbt.
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
  const a = profileAddresses(ctx.ports, pgCredentials(ctx), ctx.hosts);
  return {
    ...a,
    DATABASE_URL: a.DATABASE_URL!,
    CLICKHOUSE_URL: a.CLICKHOUSE_URL!,
    CONNECT_URL: a.CONNECT_URL!,
    KAFKA_BROKERS: a.KAFKA_BROKERS!,
    REGISTRY_URL: a.REGISTRY_URL!,
    TEMPORAL_ADDRESS: a.TEMPORAL_ADDRESS!,
    ASTROS_SOURCE_URL: a.ASTROS_SOURCE_URL!,
    SIMULATOR_URL: a.SIMULATOR_URL!,
    DBT_PYTHON: dbtPython(ctx),
    DBT_EXECUTABLE: dbtExecutable(ctx),
    // Backups: the directory this stack's ClickHouse may write, pg_basebackup as the replication role, the SeaweedFS S3 API.
    ...profileBackup(ctx.ports, pgCredentials(ctx), ctx.stateDir, ctx.hosts),
    // The profile's defaults that are not addresses (the cluster's partitions), as the environment may have moved them.
    ...(Object.keys(profileSettings(ctx.profile)).length > 0 ? { KAFKA_TOPIC_PARTITIONS: String(config(ctx.profile).topicPartitions) } : {}),
  };
}
