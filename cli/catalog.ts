/**
 * npm run catalog -- <command>: the tables the pipeline captures and what is
 * derived from them.
 *
 *   list                 the live catalog (public.captured_tables) of a running stack
 *   show <schema.table>  the ClickHouse SQL, topic, group and connector entry derived for a table
 *   plan                 what `npm run setup` would change in ClickHouse and the topics' retention (nothing is changed)
 *   generate [--check]   rewrite the files derived from the catalog (connector JSON, dbt sources, ClickHouse's Kafka client config)
 *   dbt-models           one SCD2 history model per captured table (dbt/models/history/)
 *   export               the live catalog in catalog/tables.ts's shape (to commit a table added on a running stack)
 */
import './closed-pipe.ts';
import { groupOf } from '../catalog/declaration.ts';
import { Command, Option } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { tableSql } from '../catalog/clickhouse-create.ts';
import { writeHistoryModels } from '../catalog/dbt-history.ts';
import { generatedFiles } from '../catalog/generated-files.ts';
import { repoRoot } from '../config/paths.ts';
import { capturedTables, deriveOptions, deriveTables, flowingTables, reconcileClickHouse } from '../catalog/derive.ts';
import { catalogEntries, isCaptured } from '../catalog/store.ts';
import { loadConfigOrExit, type Endpoints } from '../config/load.ts';
import { topicSpecs } from '../activities/apply-catalog.ts';
import { createClickHouse } from '../connectors/clickhouse/client.ts';
import { kafkaClient } from '../connectors/kafka/client.ts';
import { ensureTopics } from '../connectors/kafka/topics.ts';
import { PostgresUnreachable, withPostgres as connected, type pg } from '../connectors/postgres/pool.ts';

type Profile = 'dev' | 'test' | 'cluster';

function addresses(profile: Profile): Endpoints {
  return loadConfigOrExit(profile);
}

async function withPostgres<T>(e: Endpoints, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  return connected(e.databaseUrl, 'astros-catalog', fn, 5_000).catch((err: unknown) => {
    if (err instanceof PostgresUnreachable) throw new Error(`${err.message}; is the stack up? npm run stack -- status`, { cause: err });
    throw err;
  });
}

const program = new Command('catalog').description('The tables the pipeline captures (catalog/tables.ts + public.captured_tables) and what is derived from them.');
const profileOption = () => new Option('-p, --profile <profile>', 'native stack whose addresses to use (env variables override)').choices(['dev', 'test', 'cluster']).default('dev');

program
  .command('list')
  .description('the live catalog of a running stack: each table, where its declaration came from, its state')
  .addOption(profileOption())
  .option('--json', 'machine-readable output')
  .action(async (o: { profile: Profile; json?: boolean }) => {
    const entries = await withPostgres(addresses(o.profile), catalogEntries);
    if (o.json) return console.log(JSON.stringify(entries, null, 2));
    if (entries.length === 0) return console.log('no table declared yet (npm run setup syncs catalog/tables.ts)');
    for (const e of entries) console.log(`${e.declaration.source.padEnd(32)} ${groupOf(e.declaration).padEnd(10)} ${e.state.padEnd(8)} ${e.origin.padEnd(10)} updated ${e.updatedAt}`);
  });

program
  .command('show')
  .description('print everything derived for one table: topic, consumer group, connector entry and the ClickHouse SQL')
  .argument('<table>', 'schema.table (declared or not: shows what declaring it would create)')
  .addOption(profileOption())
  .action(async (table: string, o: { profile: Profile }) => {
    const e = addresses(o.profile);
    await withPostgres(e, async (db) => {
      const decl = (await catalogEntries(db)).find((x) => x.declaration.source === table)?.declaration ?? { source: table, exclude: [], columns: {} };
      const [t] = await deriveTables(db, [decl], deriveOptions(e));
      console.log(`-- key (${t!.objects.key.join(', ')})`);
      if (decl.exclude.length > 0) console.log(`-- left out (connector column.exclude.list): ${decl.exclude.join(', ')}`);
      console.log(`${tableSql(t!.objects)}\n`);
    });
  });

program
  .command('plan')
  .description("what `npm run setup` would change in ClickHouse and in the topics' retention for the active tables (read-only)")
  .addOption(profileOption())
  .action(async (o: { profile: Profile }) => {
    const e = addresses(o.profile);
    const ch = createClickHouse(e.clickhouseUrl, { requestTimeoutMs: 30_000 });
    try {
      const tables = await withPostgres(e, (db) => capturedTables(db, deriveOptions(e)));
      const plans = await reconcileClickHouse(ch, flowingTables(tables, (m) => console.log(m)), (m) => console.log(m), true);
      for (const p of plans) if (p.actions.length === 0) console.log(`${p.table}: up to date`);
      const topics = await ensureTopics(kafkaClient(e.kafkaBrokers, 'astros-catalog'), topicSpecs(tables), (m) => console.log(m), true);
      if (topics.length === 0) console.log('topics: retention up to date');
    } finally {
      await ch.close();
    }
  });

program
  .command('generate')
  .description(`rewrite the files derived from the catalog: ${generatedFiles().map((g) => path.relative(repoRoot, g.file)).join(', ')}`)
  .option('--check', 'only report files that are not in step (exit 1), write nothing')
  .action((o: { check?: boolean }) => {
    let stale = 0;
    for (const g of generatedFiles()) {
      const rel = path.relative(repoRoot, g.file);
      const now = fs.existsSync(g.file) ? fs.readFileSync(g.file, 'utf8') : '';
      if (now === g.text) {
        console.log(`${rel}: in step`);
        continue;
      }
      stale++;
      if (o.check) console.log(`${rel}: NOT in step with the catalog (npm run catalog -- generate)`);
      else {
        fs.mkdirSync(path.dirname(g.file), { recursive: true });
        fs.writeFileSync(g.file, g.text);
        console.log(`${rel}: written`);
      }
    }
    if (o.check && stale > 0) process.exitCode = 1;
  });

program
  .command('dbt-models')
  .description(`write one SCD2 history model per captured table (dbt/models/history/, the macro astros_scd2_history); npm run dbt runs this first`)
  .addOption(profileOption())
  .action(async (o: { profile: Profile }) => {
    const e = addresses(o.profile);
    const ch = createClickHouse(e.clickhouseUrl, { requestTimeoutMs: 30_000 });
    try {
      const tables = await withPostgres(e, (db) => capturedTables(db, deriveOptions(e), () => undefined));
      const rs = await ch.query({ query: `SELECT database || '.' || name AS t FROM system.tables`, format: 'JSONEachRow' });
      const existing = new Set((await rs.json<{ t: string }>()).map((r) => r.t));
      const written = writeHistoryModels(tables.filter((t) => existing.has(t.objects.names.changelog)));
      for (const f of written) console.log(`${path.relative(repoRoot, f)}: written`);
    } finally {
      await ch.close();
    }
  });

program
  .command('export')
  .description("the live catalog's active tables in catalog/tables.ts's shape (paste the entries you want to keep)")
  .addOption(profileOption())
  .action(async (o: { profile: Profile }) => {
    const entries = await withPostgres(addresses(o.profile), catalogEntries);
    console.log(JSON.stringify(entries.filter((x) => isCaptured(x.state)).map((x) => x.declaration), null, 2));
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
