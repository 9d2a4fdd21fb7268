/**
 * Applies clickhouse-ddl/NNN_*.sql in order and records each applied file
 * (name + checksum) in `astros_meta.schema_migrations`, so a rerun applies
 * only new files and an edited, already-applied file is reported, not
 * silently re-run. The same files serve the native stack and docker-compose:
 * only `{{PLACEHOLDERS}}` (broker list, registry URL) differ, filled in from
 * the environment.
 *
 *   npx tsx clickhouse-ddl/migrate.ts [--url URL] [--dry-run] [--help]
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { Command } from 'commander';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { statements } from './statements.ts';

export { statements } from './statements.ts';

export const ddlDir = path.dirname(fileURLToPath(import.meta.url));

export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

export function listMigrations(dir = ddlDir): MigrationFile[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((name) => {
      const sql = fs.readFileSync(path.join(dir, name), 'utf8');
      return { name, sql, checksum: crypto.createHash('sha256').update(sql).digest('hex') };
    });
}

/** Fill `{{NAME}}` from vars; an unknown placeholder is an error naming the file. */
export function render(file: MigrationFile, vars: Record<string, string>): string {
  return file.sql.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const v = vars[key];
    if (v === undefined) throw new Error(`${file.name}: placeholder {{${key}}} has no value (set ${key} in the environment)`);
    return v;
  });
}

export function ddlVars(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return {
    KAFKA_BROKERS: env.KAFKA_BROKERS ?? '127.0.0.1:9092',
    SCHEMA_REGISTRY_URL: env.SCHEMA_REGISTRY_CCOMPAT_URL ?? `${env.REGISTRY_URL ?? 'http://127.0.0.1:8081'}/apis/ccompat/v7`,
    KAFKA_GROUP_PREFIX: env.CLICKHOUSE_KAFKA_GROUP_PREFIX ?? 'clickhouse',
  };
}

export interface MigrateResult {
  applied: string[];
  skipped: string[];
}

export async function migrateClickHouse(client: ClickHouseClient, opts: { vars?: Record<string, string>; log?: (m: string) => void; dryRun?: boolean } = {}): Promise<MigrateResult> {
  const log = opts.log ?? (() => undefined);
  const vars = opts.vars ?? ddlVars();
  await client.command({ query: 'CREATE DATABASE IF NOT EXISTS astros_meta' });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS astros_meta.schema_migrations
            (name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
            ENGINE = MergeTree ORDER BY name`,
  });
  const rs = await client.query({ query: 'SELECT name, checksum FROM astros_meta.schema_migrations', format: 'JSONEachRow' });
  const done = new Map((await rs.json<{ name: string; checksum: string }>()).map((r) => [r.name, r.checksum]));
  const result: MigrateResult = { applied: [], skipped: [] };
  for (const file of listMigrations()) {
    const prior = done.get(file.name);
    if (prior !== undefined) {
      if (prior !== file.checksum) {
        throw new Error(`${file.name} was changed after it was applied; add a new numbered migration instead of editing it`);
      }
      result.skipped.push(file.name);
      continue;
    }
    const sql = render(file, vars);
    if (opts.dryRun) {
      log(`-- would apply ${file.name}\n${sql}`);
      result.applied.push(file.name);
      continue;
    }
    for (const stmt of statements(sql)) {
      try {
        await client.command({ query: stmt });
      } catch (err) {
        throw new Error(`${file.name}: ${(err as Error).message}\nstatement:\n${stmt}`, { cause: err });
      }
    }
    await client.insert({ table: 'astros_meta.schema_migrations', values: [{ name: file.name, checksum: file.checksum }], format: 'JSONEachRow' });
    log(`applied ${file.name}`);
    result.applied.push(file.name);
  }
  return result;
}

async function main(): Promise<void> {
  const program = new Command('clickhouse-migrate')
    .description('apply clickhouse-ddl/*.sql in order, recording what was applied')
    .option('--url <url>', 'ClickHouse HTTP URL', process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123')
    .option('--dry-run', 'print the rendered SQL instead of running it')
    .parse();
  const opts = program.opts<{ url: string; dryRun?: boolean }>();
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
