/**
 * ClickHouse migrations: applies clickhouse-ddl/NNN_*.sql in order with the
 * shared runner (connectors/migration-runner.ts: checksums, missing-file
 * warning, dry run), recording each applied file (name + checksum of the file
 * as written) in `astros_meta.schema_migrations`. ClickHouse-specific here:
 * the same files serve the native stack and docker-compose, with
 * `{{PLACEHOLDERS}}` for the names shared/names.ts owns; and a file is sent
 * one statement at a time (statements.ts). ClickHouse has no transactions: a
 * file that fails halfway is not recorded, and its statements are written to
 * be rerun (IF NOT EXISTS / IF EXISTS). The command: cli/clickhouse-migrate.ts.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import path from 'node:path';
import { repoRoot } from '../../config/paths.ts';
import { onCluster } from '../../catalog/on-cluster.ts';
import { pipelineNames } from '../../shared/names.ts';
import { readMigrationDir, renderPlaceholders, runMigrations, type MigrationFile, type MigrationTarget } from '../migration-runner.ts';
import { statements } from './statements.ts';

export type { MigrationFile } from '../migration-runner.ts';
export { statements } from './statements.ts';

export const ddlDir = path.join(repoRoot, 'clickhouse-ddl');

export function listMigrations(dir = ddlDir): MigrationFile[] {
  return readMigrationDir(dir);
}

/** Fill the file's `{{NAME}}` from vars; an unknown placeholder is an error naming the file. */
export const render = (file: MigrationFile, vars: Record<string, string>): string => renderPlaceholders(file.name, file.sql, vars);

/** Values of the files' `{{PLACEHOLDERS}}` (names owned by shared/names.ts). */
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
  /** CLICKHOUSE_CLUSTER: every statement ON CLUSTER (the files are the same; their checksums too). */
  cluster?: string;
}

/** `<metaDatabase>.schema_migrations`, and each file rendered and sent statement by statement. */
function clickhouseTarget(client: ClickHouseClient, vars: Record<string, string>, metaDatabase: string, cluster?: string): MigrationTarget {
  if (!/^\w+$/.test(metaDatabase)) throw new Error(`metaDatabase must be a plain identifier, not ${JSON.stringify(metaDatabase)}`);
  const table = `${metaDatabase}.schema_migrations`;
  return {
    where: table,
    async applied() {
      await client.command({ query: onCluster(`CREATE DATABASE IF NOT EXISTS ${metaDatabase}`, cluster) });
      await client.command({
        query: onCluster(
          `CREATE TABLE IF NOT EXISTS ${table}
                (name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
                ENGINE = MergeTree ORDER BY name`,
          cluster,
        ),
      });
      const rs = await client.query({ query: `SELECT name, checksum FROM ${table}`, format: 'JSONEachRow' });
      return new Map((await rs.json<{ name: string; checksum: string }>()).map((r) => [r.name, r.checksum]));
    },
    async apply(file) {
      for (const stmt of statements(render(file, vars)).map((s) => onCluster(s, cluster))) {
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
  const target = clickhouseTarget(client, opts.vars ?? ddlVars(), opts.metaDatabase ?? pipelineNames.metaDatabase, opts.cluster);
  const r = await runMigrations(listMigrations(opts.dir), target, { log: opts.log, dryRun: opts.dryRun });
  return { applied: r.applied, skipped: r.alreadyApplied };
}
