/**
 * Postgres migrations: applies db/migrations/postgres/NNN_name.sql in order
 * with the shared runner (connectors/migration-runner.ts: checksums,
 * missing-file warning), recording file name and SHA-256 in
 * `schema_migrations` of the migrated schema. Postgres-specific here:
 *   - the files name the CDC role and the publication as `{{CDC_ROLE}}` and
 *     `{{PUBLICATION}}` (shared/names.ts owns them); a file is checksummed as
 *     rendered, so the files that spelled the names out before keep the
 *     checksums existing stacks recorded;
 *   - each file runs in its own transaction together with its
 *     `schema_migrations` row, so a file is applied and recorded, or neither;
 *   - runners are serialised per schema with a session advisory lock, so the
 *     worker and the CLI can both run it at start;
 *   - per schema: tests migrate throw-away schemas (`search_path` is set to it).
 *
 * The command: `astros migrate` (cli/migrate.ts); the worker runs it at start.
 */
import path from 'node:path';
import pg from 'pg';
import { repoRoot } from '../../config/paths.ts';
import { pipelineNames } from '../../shared/names.ts';
import { readMigrationDir, runMigrations, type MigrationFile, type MigrationTarget, type RunResult } from '../migration-runner.ts';

export type { MigrationFile } from '../migration-runner.ts';

export const migrationsDir = path.join(repoRoot, 'db', 'migrations', 'postgres');

/** Values of the files' `{{PLACEHOLDERS}}`. */
export const migrationVars = (): Record<string, string> => ({ CDC_ROLE: pipelineNames.cdcRole, PUBLICATION: pipelineNames.publication });

export interface MigrateOptions {
  databaseUrl: string;
  /** Schema to migrate (created if missing). */
  schema?: string;
  dir?: string;
  /** Only these files (a group's own source database gets only what its capture needs: connectors/postgres/sources.ts). */
  only?: readonly string[];
  log?: (message: string) => void;
}

export type MigrateResult = RunResult;

export async function readMigrations(dir = migrationsDir): Promise<MigrationFile[]> {
  return readMigrationDir(dir, { checksumRendered: migrationVars() });
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The bookkeeping table of the connection's current schema (`search_path`). */
function postgresTarget(client: pg.Client, schema: string): MigrationTarget {
  return {
    where: `schema ${schema}`,
    async applied() {
      await client.query(`create table if not exists schema_migrations (
        filename   text primary key,
        checksum   text not null,
        applied_at timestamptz not null default now()
      )`);
      const { rows } = await client.query<{ filename: string; checksum: string }>('select filename, checksum from schema_migrations');
      return new Map(rows.map((r) => [r.filename, r.checksum]));
    },
    async apply(file) {
      try {
        await client.query('begin');
        await client.query(file.sql);
        await client.query('insert into schema_migrations (filename, checksum) values ($1, $2)', [file.name, file.checksum]);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw err;
      }
    },
    preview: (file) => file.sql,
  };
}

export async function migrate(opts: MigrateOptions): Promise<MigrateResult> {
  const schema = opts.schema ?? 'public';
  const files = (await readMigrations(opts.dir)).filter((f) => opts.only === undefined || opts.only.includes(f.name));
  const client = new pg.Client({ connectionString: opts.databaseUrl, application_name: 'astros-migrate' });
  client.on('error', () => undefined); // a lost connection fails the statement in flight, which says what happened
  await client.connect();
  try {
    // Session lock (not per transaction): one runner at a time, across all files.
    await client.query(`select pg_advisory_lock(hashtext('astros-migrate:' || $1::text))`, [schema]);
    await client.query(`create schema if not exists ${quoteIdent(schema)}`);
    await client.query(`set search_path to ${quoteIdent(schema)}`);
    return await runMigrations(files, postgresTarget(client, schema), { log: opts.log });
  } finally {
    await client.end().catch(() => undefined);
  }
}
