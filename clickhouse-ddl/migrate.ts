/**
 * ClickHouse migrations: applies clickhouse-ddl/NNN_*.sql in order with the
 * shared runner (db/migration-runner.ts: checksums, missing-file warning, dry
 * run), recording each applied file (name + checksum) in
 * `astros_meta.schema_migrations`. ClickHouse-specific here: the same files
 * serve the native stack and docker-compose, with `{{PLACEHOLDERS}}` for the
 * names catalog/names.ts owns; and a file is sent one statement at a time (statements.ts).
 * ClickHouse has no transactions: a file that fails halfway is not recorded,
 * and its statements are written to be rerun (IF NOT EXISTS / IF EXISTS).
 *
 *   npx tsx clickhouse-ddl/migrate.ts [--url URL] [--dry-run] [--help]
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { Command } from 'commander';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipelineNames } from '../shared/names.ts';
import { readMigrationDir, runMigrations, type MigrationFile, type MigrationTarget } from '../db/migration-runner.ts';
import { statements } from './statements.ts';

export type { MigrationFile } from '../db/migration-runner.ts';
export { statements } from './statements.ts';

export const ddlDir = path.dirname(fileURLToPath(import.meta.url));

export function listMigrations(dir = ddlDir): MigrationFile[] {
  return readMigrationDir(dir);
}

/** Fill `{{NAME}}` from vars; an unknown placeholder is an error naming the file. */
export function render(file: MigrationFile, vars: Record<string, string>): string {
  return file.sql.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const v = vars[key];
    if (v === undefined) throw new Error(`${file.name}: placeholder {{${key}}} has no value (set ${key} in the environment)`);
    return v;
  });
}

/** Values of the files' `{{PLACEHOLDERS}}` (names owned by catalog/names.ts). */
export function ddlVars(names: { clickhouseDatabase: string } = pipelineNames): Record<string, string> {
  return { CLICKHOUSE_DATABASE: names.clickhouseDatabase };
}

export interface MigrateResult {
  applied: string[];
  skipped: string[];
}

export interface MigrateClickHouseOptions {
  vars?: Record<string, string>;
  log?: (m: string) => void;
  dryRun?: boolean;
  /** Folder of the migration files (tests). */
  dir?: string;
  /** Database of the bookkeeping table (tests); the pipeline's is astros_meta. */
  metaDatabase?: string;
}

/** `<metaDatabase>.schema_migrations`, and each file rendered and sent statement by statement. */
function clickhouseTarget(client: ClickHouseClient, vars: Record<string, string>, metaDatabase: string): MigrationTarget {
  if (!/^\w+$/.test(metaDatabase)) throw new Error(`metaDatabase must be a plain identifier, not ${JSON.stringify(metaDatabase)}`);
  const table = `${metaDatabase}.schema_migrations`;
  return {
    where: table,
    async applied() {
      await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${metaDatabase}` });
      await client.command({
        query: `CREATE TABLE IF NOT EXISTS ${table}
                (name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
                ENGINE = MergeTree ORDER BY name`,
      });
      const rs = await client.query({ query: `SELECT name, checksum FROM ${table}`, format: 'JSONEachRow' });
      return new Map((await rs.json<{ name: string; checksum: string }>()).map((r) => [r.name, r.checksum]));
    },
    async apply(file) {
      for (const stmt of statements(render(file, vars))) {
        try {
          await client.command({ query: stmt });
        } catch (err) {
          throw new Error(`${(err as Error).message}\nstatement:\n${stmt}`, { cause: err });
        }
      }
      await client.insert({ table, values: [{ name: file.name, checksum: file.checksum }], format: 'JSONEachRow' });
    },
    preview: (file) => render(file, vars),
  };
}

export async function migrateClickHouse(client: ClickHouseClient, opts: MigrateClickHouseOptions = {}): Promise<MigrateResult> {
  const target = clickhouseTarget(client, opts.vars ?? ddlVars(), opts.metaDatabase ?? pipelineNames.metaDatabase);
  const r = await runMigrations(listMigrations(opts.dir), target, { log: opts.log, dryRun: opts.dryRun });
  return { applied: r.applied, skipped: r.alreadyApplied };
}

async function main(): Promise<void> {
  const program = new Command('clickhouse-migrate')
    .description('apply clickhouse-ddl/*.sql in order, recording what was applied')
    .option('--url <url>', 'ClickHouse HTTP URL (default: CLICKHOUSE_URL, else the dev stack)')
    .option('--dry-run', 'print the rendered SQL instead of running it')
    .parse();
  const o = program.opts<{ url?: string; dryRun?: boolean }>();
  const { loadConfigOrExit } = await import('../config/load.ts');
  const opts = { ...o, url: o.url ?? loadConfigOrExit('dev').clickhouseUrl };
  const client = createClient({ url: opts.url, request_timeout: 60_000, log: { level: ClickHouseLogLevel.OFF } });
  try {
    const r = await migrateClickHouse(client, { log: (m) => console.log(m), dryRun: opts.dryRun });
    console.log(`clickhouse migrations: ${r.applied.length} applied, ${r.skipped.length} already applied`);
  } finally {
    await client.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((err: unknown) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
