/**
 * `npx tsx cli/clickhouse-migrate.ts [--url URL] [--dry-run]`: apply the
 * shared ClickHouse objects (clickhouse-ddl/NNN_*.sql) in order, recording
 * what was applied (connectors/clickhouse/migrate.ts). `npm run setup` runs
 * the same step before applying the catalog.
 */
import { Command } from 'commander';
import { loadConfigOrExit } from '../config/load.ts';
import { createClickHouse } from '../connectors/clickhouse/client.ts';
import { migrateClickHouse } from '../connectors/clickhouse/migrate.ts';

const program = new Command('clickhouse-migrate')
  .description('apply clickhouse-ddl/*.sql in order, recording what was applied')
  .option('--url <url>', 'ClickHouse HTTP URL (default: CLICKHOUSE_URL, else the dev stack)')
  .option('--dry-run', 'print the rendered SQL instead of running it')
  .parse();
const o = program.opts<{ url?: string; dryRun?: boolean }>();
const cfg = loadConfigOrExit('dev');
const client = createClickHouse(o.url ?? cfg.clickhouseUrl, { requestTimeoutMs: 60_000 });
try {
  const r = await migrateClickHouse(client, { log: (m) => console.log(m), ...(o.dryRun ? { dryRun: true } : {}), ...(cfg.clickhouseCluster ? { cluster: cfg.clickhouseCluster } : {}) });
  console.log(`clickhouse migrations: ${r.applied.length} applied, ${r.skipped.length} already applied`);
} catch (err) {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await client.close();
}
