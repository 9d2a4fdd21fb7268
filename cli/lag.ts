/**
 * `npm run lag [-- --profile test] [--json]`: replication lag end to end at
 * one moment (activities/lag-report.ts). A lost or missing replication slot
 * is the first line (`FAILED: …`, with the fix) and the exit status (4, as
 * validation's for the same failure). Addresses come from the native stack
 * of --profile; DATABASE_URL, KAFKA_BROKERS, CLICKHOUSE_URL,
 * CLICKHOUSE_KAFKA_GROUP_PREFIX (or --postgres-url) override them.
 */
import './closed-pipe.ts';
import { Command, Option } from 'commander';
import { formatLagReport, lagFailure, lagReport } from '../activities/lag-report.ts';
import { loadConfigOrExit } from '../config/load.ts';
import type { Profile } from '../config/profiles.ts';
import { createClickHouse } from '../connectors/clickhouse/client.ts';
import { kafkaClient } from '../connectors/kafka/client.ts';
import { withPostgres } from '../connectors/postgres/pool.ts';

const program = new Command('lag')
  .description('Replication lag: Postgres WAL vs the Debezium slot, Kafka end offsets vs the ClickHouse consumers, newest LSN applied in ClickHouse')
  .addOption(new Option('-p, --profile <profile>', 'native stack whose addresses to use').choices(['dev', 'test', 'cluster']).default('dev'))
  .option('--slot <name>', "one replication slot (default: every table group's)")
  .option('--postgres-url <url>', 'connection string of the captured database (default: DATABASE_URL)')
  .option('--json', 'machine-readable output')
  .parse();
const opts = program.opts<{ profile: Profile; slot?: string; postgresUrl?: string; json?: boolean }>();
const e = loadConfigOrExit(opts.profile);
const clickhouse = createClickHouse(e.clickhouseUrl, { requestTimeoutMs: 30_000 });
try {
  const report = await withPostgres(opts.postgresUrl ?? e.databaseUrl, 'astros-lag', (db) =>
    lagReport({ db, kafka: kafkaClient(e.kafkaBrokers, 'astros-lag'), clickhouse }, { groupPrefix: e.groupPrefix, groupDatabases: e.groupDatabases, ...(opts.slot ? { slot: opts.slot } : {}) }),
  );
  console.log(opts.json ? JSON.stringify({ ...report, failure: lagFailure(report) ?? null }, null, 2) : formatLagReport(report));
  // Scripts see it too: the status validation gives the same failure.
  if (lagFailure(report)) process.exitCode = 4;
} catch (err) {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await clickhouse.close();
}
