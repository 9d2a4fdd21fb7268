/**
 * SQL migration runner: applies db/migrations/postgres/NNN_name.sql in order,
 * each in its own transaction, recording file name and SHA-256 in
 * `schema_migrations`. An applied file whose content changed is an error
 * (write a new migration instead). Runners are serialised with an advisory
 * lock, so the worker and the CLI can both run it at start.
 *
 * Usable as a function (`migrate({ databaseUrl, schema })`) and as a CLI:
 *   npx tsx db/migrate.ts --help
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import pg from 'pg';
import { ConfigError, MigrationError } from '../activities/errors.ts';

export const migrationsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations', 'postgres');

const FILE_PATTERN = /^(\d{3})_[a-z0-9_]+\.sql$/;

export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrateOptions {
  databaseUrl: string;
  /** Schema to migrate (created if missing). */
  schema?: string;
  dir?: string;
  log?: (message: string) => void;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
}

export async function readMigrations(dir = migrationsDir): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.sql')).sort();
  const bad = names.filter((n) => !FILE_PATTERN.test(n));
  if (bad.length > 0) throw new MigrationError(`migration file names must look like 010_name.sql: ${bad.join(', ')}`);
  const numbers = names.map((n) => n.slice(0, 3));
  const dup = numbers.find((n, i) => numbers.indexOf(n) !== i);
  if (dup !== undefined) throw new MigrationError(`two migrations share the number ${dup}`);
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export async function migrate(opts: MigrateOptions): Promise<MigrateResult> {
  const schema = opts.schema ?? 'public';
  const log = opts.log ?? (() => undefined);
  const files = await readMigrations(opts.dir);
  const client = new pg.Client({ connectionString: opts.databaseUrl, application_name: 'astros-migrate' });
  await client.connect();
  try {
    // Session lock (not per transaction): one runner at a time, across all files.
    await client.query(`select pg_advisory_lock(hashtext('astros-migrate:' || $1::text))`, [schema]);
    await client.query(`create schema if not exists ${quoteIdent(schema)}`);
    await client.query(`set search_path to ${quoteIdent(schema)}`);
    await client.query(`create table if not exists schema_migrations (
      filename   text primary key,
      checksum   text not null,
      applied_at timestamptz not null default now()
    )`);
    const { rows } = await client.query<{ filename: string; checksum: string }>('select filename, checksum from schema_migrations');
    const applied = new Map(rows.map((r) => [r.filename, r.checksum]));

    const changed = files.filter((f) => applied.has(f.name) && applied.get(f.name) !== f.checksum).map((f) => f.name);
    if (changed.length > 0) {
      throw new MigrationError(
        `already-applied migration(s) changed on disk: ${changed.join(', ')} (schema ${schema}); ` +
          'never edit an applied migration, add a new numbered file instead',
      );
    }
    const missing = [...applied.keys()].filter((name) => !files.some((f) => f.name === name));
    if (missing.length > 0) log(`warning: applied migrations not found on disk: ${missing.join(', ')}`);

    const result: MigrateResult = { applied: [], alreadyApplied: [] };
    for (const file of files) {
      if (applied.has(file.name)) {
        result.alreadyApplied.push(file.name);
        continue;
      }
      try {
        await client.query('begin');
        await client.query(file.sql);
        await client.query('insert into schema_migrations (filename, checksum) values ($1, $2)', [file.name, file.checksum]);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw new MigrationError(`migration ${file.name} failed: ${(err as Error).message}`, { cause: err });
      }
      log(`applied ${file.name}`);
      result.applied.push(file.name);
    }
    return result;
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
      const { loadConfigOrExit } = await import('../config/env.ts');
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
