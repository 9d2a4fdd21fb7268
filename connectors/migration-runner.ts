/**
 * The one migration runner both engines use (Postgres:
 * connectors/postgres/migrate.ts, ClickHouse: connectors/clickhouse/migrate.ts).
 * It reads numbered files (`NNN_name.sql`, in db/migrations/postgres and
 * clickhouse-ddl), compares them with what the engine's bookkeeping table
 * says was applied (file name + SHA-256), and applies the rest in order:
 *   - an applied file whose checksum changed is an error, before anything runs
 *     (write a new numbered file instead of editing an applied one);
 *   - a file recorded as applied but no longer on disk is a warning line, not
 *     an error (files are retired, e.g. when their objects move to a generator);
 *   - a dry run prints what would run and runs nothing.
 * Each engine supplies a `MigrationTarget`: its bookkeeping table (names and
 * columns unchanged from the earlier per-engine runners, so live stacks keep
 * their history) and how one file is applied. Locking and transactions belong
 * to the engine's module; both fill the files' `{{NAME}}` placeholders with
 * the names shared/names.ts owns (renderPlaceholders).
 *
 * Why not umzug (evaluated: umzug 3.8.3, May 2026, the release before it
 * Sep 2024; CommonJS, imports fine from ESM under Node 20 and tsx). Every
 * behaviour above would still be written here, around it:
 *   - its storage contract (`executed()`) returns names only, so the checksum
 *     refusal and the missing-file warning happen outside umzug;
 *   - it records a migration (`storage.logMigration`) after `up()` returned,
 *     outside any transaction; keeping a Postgres file and its row in one
 *     transaction would mean opening it in `up()` and committing it in the
 *     storage, a protocol umzug knows nothing about;
 *   - it has no lock for SQL storages, so the advisory lock stays ours;
 *   - it wraps failures as "Migration X (up) failed: Original error: …",
 *     which we would unwrap to keep our messages.
 * What is left for umzug is "files not yet applied, in order", one filter
 * and a loop, for 30 more packages in this project and the worker image
 * (`npm install umzug@3.8.3 --dry-run`); its index loads its CLI
 * (@rushstack/ts-command-line, node-core-library) on import, ~180 ms at every
 * worker start. So the runner is this small module instead.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MigrationError } from '../shared/errors.ts';

/** Fill `{{NAME}}` from vars; an unknown placeholder is an error naming the file. */
export function renderPlaceholders(name: string, text: string, vars: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const v = vars[key];
    if (v === undefined) throw new MigrationError(`${name}: placeholder {{${key}}} has no value`);
    return v;
  });
}

const FILE_PATTERN = /^(\d{3})_[a-z0-9_-]+\.sql$/;

export interface MigrationFile {
  name: string;
  sql: string;
  /** SHA-256 (hex) of the file as written, or, with `checksumRendered`, of the text it renders to. */
  checksum: string;
}

export interface ReadOptions {
  /**
   * Fill the placeholders on reading and checksum the rendered text. A file whose literal names
   * became placeholders then keeps the checksum stacks recorded when they applied it (the
   * rendered text is the text they applied), so it is not taken for an edited migration.
   */
  checksumRendered?: Record<string, string>;
}

/** One engine: its bookkeeping table and how it applies a file. */
export interface MigrationTarget {
  /** Where the bookkeeping lives, for messages ("schema public", "astros_meta.schema_migrations"). */
  readonly where: string;
  /** Applied file names and their checksums (the bookkeeping table is created if missing). */
  applied(): Promise<Map<string, string>>;
  /** Run one file and record it as applied. */
  apply(file: MigrationFile): Promise<void>;
  /** The SQL `apply` would send, for a dry run. */
  preview(file: MigrationFile): string;
}

export interface RunOptions {
  log?: (message: string) => void;
  /** Print what would be applied (reported as applied) and run nothing. */
  dryRun?: boolean;
}

export interface RunResult {
  applied: string[];
  alreadyApplied: string[];
}

export interface MigrationPlan {
  pending: MigrationFile[];
  alreadyApplied: string[];
  /** Applied, but the file's checksum differs from the recorded one. */
  changed: string[];
  /** Recorded as applied, not on disk. */
  missing: string[];
}

/** The `NNN_name.sql` files of a folder, in order; any other `.sql` name or a shared number is an error. */
export function readMigrationDir(dir: string, opts: ReadOptions = {}): MigrationFile[] {
  const names = fs.readdirSync(dir).filter((n) => n.endsWith('.sql')).sort();
  const bad = names.filter((n) => !FILE_PATTERN.test(n));
  if (bad.length > 0) throw new MigrationError(`migration file names must look like 010_name.sql: ${bad.join(', ')} (in ${dir})`);
  const numbers = names.map((n) => n.slice(0, 3));
  const dup = numbers.find((n, i) => numbers.indexOf(n) !== i);
  if (dup !== undefined) throw new MigrationError(`two migrations share the number ${dup} (in ${dir})`);
  return names.map((name) => {
    const text = fs.readFileSync(path.join(dir, name), 'utf8');
    const sql = opts.checksumRendered ? renderPlaceholders(name, text, opts.checksumRendered) : text;
    return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
  });
}

export function planMigrations(files: readonly MigrationFile[], applied: ReadonlyMap<string, string>): MigrationPlan {
  const onDisk = new Set(files.map((f) => f.name));
  return {
    pending: files.filter((f) => !applied.has(f.name)),
    alreadyApplied: files.filter((f) => applied.has(f.name)).map((f) => f.name),
    changed: files.filter((f) => applied.has(f.name) && applied.get(f.name) !== f.checksum).map((f) => f.name),
    missing: [...applied.keys()].filter((name) => !onDisk.has(name)).sort(),
  };
}

export async function runMigrations(files: readonly MigrationFile[], target: MigrationTarget, opts: RunOptions = {}): Promise<RunResult> {
  const log = opts.log ?? (() => undefined);
  const plan = planMigrations(files, await target.applied());
  if (plan.changed.length > 0) {
    throw new MigrationError(
      `already-applied migration(s) changed on disk: ${plan.changed.join(', ')} (${target.where}); ` +
        'never edit an applied migration, add a new numbered file instead',
    );
  }
  if (plan.missing.length > 0) log(`warning: applied migrations not found on disk: ${plan.missing.join(', ')} (${target.where})`);

  const result: RunResult = { applied: [], alreadyApplied: plan.alreadyApplied };
  for (const file of plan.pending) {
    if (opts.dryRun) {
      log(`-- would apply ${file.name}\n${target.preview(file)}`);
    } else {
      try {
        await target.apply(file);
      } catch (err) {
        throw new MigrationError(`migration ${file.name} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      log(`applied ${file.name}`);
    }
    result.applied.push(file.name);
  }
  return result;
}
