/**
 * Bring a running stack to a working pipeline, idempotently:
 *   1. Postgres migrations (shared tables, the live catalog public.captured_tables)
 *   2. the catalog: catalog/tables.ts synced into public.captured_tables, plus
 *      any declarations the caller adds (tests declare their own tables)
 *   3. ClickHouse: shared objects (numbered clickhouse-ddl migrations)
 *   4. the catalog applied (activities/apply-catalog.ts): publication,
 *      topics, every table's ClickHouse objects, the Debezium connector
 *      registered through Kafka Connect's REST API with its table list
 * The `setup` command (cli/setup.ts), docker-compose's setup job and the
 * tests' global setup run it.
 */
import type { Endpoints } from '../config/load.ts';
import type { TableDeclarationInput } from '../catalog/declaration.ts';
import { declareTable, syncRepositoryTables } from '../catalog/store.ts';
import { repositoryTables } from '../catalog/tables.ts';
import { createClickHouse } from '../connectors/clickhouse/client.ts';
import { ddlVars, migrateClickHouse } from '../connectors/clickhouse/migrate.ts';
import { kafkaClient } from '../connectors/kafka/client.ts';
import { KafkaConnect } from '../connectors/kafka-connect/client.ts';
import { migrate as migratePostgres } from '../connectors/postgres/migrate.ts';
import { withPostgres } from '../connectors/postgres/pool.ts';
import { applyCatalog } from './apply-catalog.ts';

export interface SetupOptions {
  /** Declarations to add to the live catalog before deriving (tests declare their own tables). */
  declare?: TableDeclarationInput[];
  log?: (m: string) => void;
}

export async function setupPipeline(env: Endpoints, opts: SetupOptions = {}): Promise<void> {
  const log = opts.log ?? console.log;
  const pgm = await migratePostgres({ databaseUrl: env.databaseUrl, log: (m) => log(`[postgres] ${m}`) });
  log(`[postgres] migrations: ${pgm.applied.length} applied, ${pgm.alreadyApplied.length} already applied`);
  const ch = createClickHouse(env.clickhouseUrl, { requestTimeoutMs: 60_000 });
  try {
    await withPostgres(env.databaseUrl, 'astros-setup', async (db) => {
      const synced = await syncRepositoryTables(db, repositoryTables);
      for (const s of synced.removed) log(`[catalog] ${s}: no longer in catalog/tables.ts, marked removed`);
      for (const k of synced.kept) log(`[catalog] ${k}`);
      for (const d of opts.declare ?? []) await declareTable(db, d, 'test');
      const r = await migrateClickHouse(ch, { vars: ddlVars(), log: (m) => log(`[clickhouse] ${m}`), ...(env.clickhouseCluster ? { cluster: env.clickhouseCluster } : {}) });
      log(`[clickhouse] migrations: ${r.applied.length} applied, ${r.skipped.length} already applied`);
      await applyCatalog(env, { db, clickhouse: ch, kafka: kafkaClient(env.kafkaBrokers, 'astros-setup'), connect: new KafkaConnect(env.connectUrl) }, log);
    });
  } finally {
    await ch.close();
  }
}
