/**
 * What the activities are built from: one set of clients and settings, made
 * once by the worker (worker/run.ts), every one required. Each group of
 * activities takes the part it uses (tests build a group from its part).
 */
import type pg from 'pg';
import type { Config, Endpoints } from '../config/load.ts';
import type { ClickHouseClient } from '../connectors/clickhouse/client.ts';
import type { Kafka } from '../connectors/kafka/client.ts';
import type { KafkaConnect } from '../connectors/kafka-connect/client.ts';

export interface ActivityDeps {
  /** The ingest schema's pool (DATABASE_SCHEMA); the pipeline's own tables are in public. */
  pool: pg.Pool;
  /** Defaults for the source; `url` is used when the workflow input names none. */
  source: Config['source'];
  clickhouse: ClickHouseClient;
  kafka: Kafka;
  connect: KafkaConnect;
  /** The pipeline's addresses and settings: consumer group prefix, retention, the registry ClickHouse reads. */
  endpoints: Endpoints;
}
