/**
 * `npm run setup [-- --profile dev|test]`: make a running stack a working
 * pipeline (idempotent; activities/setup.ts says what it does).
 */
import { Command, Option } from 'commander';
import { loadConfigOrExit } from '../config/load.ts';
import type { Profile } from '../config/profiles.ts';
import { setupPipeline } from '../activities/setup.ts';

const program = new Command('setup')
  .description(
    'Make a running stack a working pipeline (idempotent): Postgres migrations and publication, ClickHouse DDL, ' +
      "the catalog (catalog/tables.ts) applied: publication, ClickHouse objects, the connector's tables; Debezium connector registered through Kafka Connect. Addresses come from the native stack of --profile; " +
      'DATABASE_URL, CLICKHOUSE_URL, CONNECT_URL, KAFKA_BROKERS, REGISTRY_URL override them (docker-compose sets these).',
  )
  .addOption(new Option('-p, --profile <profile>', 'native stack whose addresses to use').choices(['dev', 'test', 'cluster']).default('dev'))
  .parse();
const { profile } = program.opts<{ profile: Profile }>();
try {
  await setupPipeline(loadConfigOrExit(profile));
  console.log('pipeline ready: Postgres -> Debezium -> Kafka -> ClickHouse');
} catch (err) {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
