/**
 * Postgres migrations: applies db/migrations/postgres/NNN_name.sql in order
 * with the shared runner (db/migration-runner.ts: checksums, missing-file
 * warning), recording file name and SHA-256 in `schema_migrations` of the
 * migrated schema. Postgres-specific here:
 *   - each file runs in its own transaction together with its
 *     `schema_migrations` row, so a file is applied and recorded, or neither;
 *   - runners are serialised per schema with a session advisory lock, so the
 *     worker and the CLI can both run it at start;
 *   - per schema: tests migrate throw-away schemas (`search_path` is set to it).
 *
 * Usable as a function (`migrate({ databaseUrl, schema })`) and as a CLI:
 *   npx tsx db/migrate.ts --help
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import pg from 'pg';
import { ConfigError, MigrationError } from '../shared/errors.ts';
import { readMigrationDir, runMigrations, type MigrationFile, type MigrationTarget, type RunResult } from './migration-runner.ts';

export type { MigrationFile } from './migration-runner.ts';

export const migrationsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations', 'postgres');

export interface MigrateOptions {
  databaseUrl: string;
  /** Schema to migrate (created if missing). */
  schema?: string;
  dir?: string;
  log?: (message: string) => void;
}

export type MigrateResult = RunResult;

export async function readMigrations(dir = migrationsDir): Promise<MigrationFile[]> {
  return readMigrationDir(dir);
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
  const files = await readMigrations(opts.dir);
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

/** CLI: reads DATABASE_URL / DATABASE_SCHEMA through the config module unless given as options. */
export async function main(argv = process.argv): Promise<void> {
  const program = new Command()
    .name('migrate')
    .description('Apply pending Postgres migrations (db/migrations/postgres) and record them in schema_migrations.')
    .option('--database-url <url>', 'connection string (default: DATABASE_URL)')
    .option('--schema <name>', 'schema to migrate (default: DATABASE_SCHEMA or public)')
    .option('--list', 'only list the migration files and their checksums')
    .action(async (opts: { databaseUrl?: string; schema?: string; list?: boolean }) => {
      if (opts.list) {
        for (const f of await readMigrations()) console.log(`${f.name}  ${f.checksum.slice(0, 12)}`);
        return;
      }
      const { loadConfigOrExit } = await import('../config/load.ts');
      const cfg = opts.databaseUrl !== undefined && opts.schema !== undefined ? undefined : loadConfigOrExit();
      const result = await migrate({
        databaseUrl: opts.databaseUrl ?? cfg?.databaseUrl ?? '',
        schema: opts.schema ?? cfg?.databaseSchema ?? 'public',
        log: (m) => console.log(m),
      });
      console.log(`${result.applied.length} applied, ${result.alreadyApplied.length} already applied`);
    });
  await program.parseAsync(argv);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    if (err instanceof MigrationError || err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
    } else {
      process.stderr.write(`migrate failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    process.exitCode = 1;
  });
}
