/**
 * `npm run lag [-- --profile test] [--json]`: replication lag end to end at
 * one moment (activities/lag-report.ts). A lost or missing replication slot
 * is the first line (`FAILED: …`, with the fix) and the exit status (4, as
 * validation's for the same failure). Addresses come from the native stack
 * of --profile; DATABASE_URL, KAFKA_BROKERS, CLICKHOUSE_URL,
 * CLICKHOUSE_KAFKA_GROUP_PREFIX (or --postgres-url) override them. With a
 * ClickHouse replica set, the consumers and newest LSN are one replica's:
 * --replica names it (default: CLICKHOUSE_PRIMARY, else the next that answers).
 */
import './closed-pipe.ts';
import { Command, Option } from 'commander';
import { formatLagReport, lagFailure, lagReport } from '../activities/lag-report.ts';
import { loadConfigOrExit } from '../config/load.ts';
import type { Profile } from '../config/profiles.ts';
import { createClickHouse } from '../connectors/clickhouse/client.ts';
import { chooseReplica, failoverLine } from '../connectors/clickhouse/replicas.ts';
import { kafkaClient } from '../connectors/kafka/client.ts';
import { withPostgres } from '../connectors/postgres/pool.ts';

const program = new Command('lag')
  .description('Replication lag: Postgres WAL vs the Debezium slot, Kafka end offsets vs the ClickHouse consumers, newest LSN applied in ClickHouse')
  .addOption(new Option('-p, --profile <profile>', 'native stack whose addresses to use').choices(['dev', 'test', 'cluster']).default('dev'))
  .option('--slot <name>', "one replication slot (default: every table group's)")
  .option('--replica <name>', 'one ClickHouse replica of the set: ch1 (CLICKHOUSE_URL), ch2, ... (its consumer groups and newest LSN)')
  .option('--postgres-url <url>', 'connection string of the captured database (default: DATABASE_URL)')
  .option('--json', 'machine-readable output')
  .parse();
const opts = program.opts<{ profile: Profile; slot?: string; replica?: string; postgresUrl?: string; json?: boolean }>();
const e = loadConfigOrExit(opts.profile);
let replica;
try {
  const choice = await chooseReplica(e, opts.replica);
  const said = failoverLine(choice);
  if (said) console.error(`lag: ${said}`);
  replica = choice.replica;
} catch (err) {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
if (e.clickhouseReplicas.length > 1 && !opts.json) console.log(`ClickHouse replica ${replica.name} (${replica.url})`);
const clickhouse = createClickHouse(replica.url, { requestTimeoutMs: 30_000 });
try {
  const report = await withPostgres(opts.postgresUrl ?? e.databaseUrl, 'astros-lag', (db) =>
    lagReport({ db, kafka: kafkaClient(e.kafkaBrokers, 'astros-lag'), clickhouse }, { groupPrefix: replica.groupPrefix, groupDatabases: e.groupDatabases, ...(e.clickhouseCluster ? { clickhouseCluster: e.clickhouseCluster } : {}), ...(opts.slot ? { slot: opts.slot } : {}) }),
  );
  console.log(opts.json ? JSON.stringify({ ...report, replica: replica.name, failure: lagFailure(report) ?? null }, null, 2) : formatLagReport(report));
  // Scripts see it too: the status validation gives the same failure.
  if (lagFailure(report)) process.exitCode = 4;
} catch (err) {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await clickhouse.close();
}
