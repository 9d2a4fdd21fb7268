/**
 * Both migration runners (one shared runner, connectors/migration-runner.ts) against
 * the real Postgres and ClickHouse: idempotent, refuse an applied file that
 * changed, warn about an applied file gone from disk, keep what earlier
 * runners recorded, and (Postgres) publish only public.astronauts.
 * Each test migrates its own schema / databases and drops them afterwards.
 */
import { createHash } from 'node:crypto';
import { appendFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { MigrationError } from '../../shared/errors.ts';
import { ddlDir, ddlVars, listMigrations, migrateClickHouse } from '../../connectors/clickhouse/migrate.ts';
import { migrate, migrationsDir, readMigrations } from '../../connectors/postgres/migrate.ts';
import { chRows, clickhouse, requireEnv, uniqueTag } from './helpers.ts';

async function withSchema(fn: (schema: string, db: pg.Client) => Promise<void>): Promise<void> {
  const schema = uniqueTag('migrate');
  const db = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  await db.connect();
  try {
    await fn(schema, db);
  } finally {
    await db.query(`drop schema if exists "${schema}" cascade`);
    await db.end();
  }
}

/** A temporary folder of migration files: a copy of `from`, or empty. */
async function withDir(fn: (dir: string) => Promise<void>, from?: string): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'astros-migrations-'));
  try {
    if (from !== undefined) await cp(from, dir, { recursive: true });
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('connectors/postgres/migrate.ts (Postgres)', () => {
  it('applies every file once, in order, and nothing on a second run', async () => {
    await withSchema(async (schema, db) => {
      const databaseUrl = requireEnv('DATABASE_URL');
      const files = (await readMigrations()).map((f) => f.name);
      expect(files[0]).toBe('010_astronauts.sql');
      expect(await migrate({ databaseUrl, schema })).toEqual({ applied: files, alreadyApplied: [] });
      expect(await migrate({ databaseUrl, schema })).toEqual({ applied: [], alreadyApplied: files });
      const { rows } = await db.query<{ relreplident: string }>(
        `select c.relreplident from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = 'astronauts'`,
        [schema],
      );
      expect(rows).toEqual([{ relreplident: 'f' }]); // REPLICA IDENTITY FULL
      // Test schemas are never added to the CDC publication.
      const published = await db.query('select 1 from pg_publication_tables where schemaname = $1', [schema]);
      expect(published.rowCount).toBe(0);
    });
  });

  it('runs nothing already recorded in an existing schema_migrations (a stack migrated before the shared runner)', async () => {
    await withSchema(async (schema, db) => {
      const databaseUrl = requireEnv('DATABASE_URL');
      const migrations = await readMigrations();
      const files = migrations.map((f) => f.name);
      // What stacks recorded for the files shipped before their names became placeholders (test/fixtures);
      // a later file is recorded as the runner checksums it (its rendered text).
      const recorded = JSON.parse(await readFile(path.join(import.meta.dirname, '..', 'fixtures', 'postgres-migration-checksums.json'), 'utf8')) as Record<string, string>;
      // The table and rows as the earlier Postgres runner wrote them; the SQL itself never ran here.
      await db.query(`create schema "${schema}"`);
      await db.query(`create table "${schema}".schema_migrations (filename text primary key, checksum text not null, applied_at timestamptz not null default now())`);
      for (const { name, checksum: rendered } of migrations) {
        const checksum = recorded[name] ?? rendered;
        await db.query(`insert into "${schema}".schema_migrations (filename, checksum) values ($1, $2)`, [name, checksum]);
      }
      expect(await migrate({ databaseUrl, schema })).toEqual({ applied: [], alreadyApplied: files });
      expect((await db.query('select to_regclass($1) as t', [`"${schema}".astronauts`])).rows[0]).toEqual({ t: null });
    });
  });

  it('serialises concurrent runners on one schema: every file is applied once', async () => {
    await withSchema(async (schema) => {
      const databaseUrl = requireEnv('DATABASE_URL');
      const files = (await readMigrations()).map((f) => f.name);
      const results = await Promise.all([migrate({ databaseUrl, schema }), migrate({ databaseUrl, schema })]);
      expect(results.map((r) => r.applied).sort((x, y) => x.length - y.length)).toEqual([[], files]);
    });
  });

  it('refuses to continue when an applied migration changed on disk', async () => {
    await withSchema(async (schema) => {
      const databaseUrl = requireEnv('DATABASE_URL');
      await withDir(async (dir) => {
        await migrate({ databaseUrl, schema, dir });
        await appendFile(path.join(dir, '020_ingest_runs.sql'), '\n-- edited after being applied\n');
        await expect(migrate({ databaseUrl, schema, dir })).rejects.toThrow(MigrationError);
        await expect(migrate({ databaseUrl, schema, dir })).rejects.toThrow(/020_ingest_runs\.sql/);
      }, migrationsDir);
    });
  });

  it('warns about an applied migration no longer on disk and carries on', async () => {
    await withSchema(async (schema) => {
      const databaseUrl = requireEnv('DATABASE_URL');
      await withDir(async (dir) => {
        await migrate({ databaseUrl, schema, dir });
        await rm(path.join(dir, '100_cdc_probe_heartbeat.sql'));
        const log: string[] = [];
        const result = await migrate({ databaseUrl, schema, dir, log: (m) => log.push(m) });
        expect(result.applied).toEqual([]);
        expect(result.alreadyApplied).not.toContain('100_cdc_probe_heartbeat.sql');
        expect(log).toEqual([`warning: applied migrations not found on disk: 100_cdc_probe_heartbeat.sql (schema ${schema})`]);
      }, migrationsDir);
    });
  });

  it('rolls back a failing migration and does not record it', async () => {
    await withSchema(async (schema, db) => {
      const databaseUrl = requireEnv('DATABASE_URL');
      await withDir(async (dir) => {
        await appendFile(path.join(dir, '999_broken.sql'), 'create table half_done (id int);\nselect no_such_function();\n');
        await expect(migrate({ databaseUrl, schema, dir })).rejects.toThrow(/999_broken\.sql failed/);
        const recorded = await db.query(`select filename from "${schema}".schema_migrations where filename = '999_broken.sql'`);
        expect(recorded.rowCount).toBe(0);
        const table = await db.query(`select to_regclass($1) as t`, [`"${schema}".half_done`]);
        expect(table.rows[0]).toEqual({ t: null });
      }, migrationsDir);
    });
  });
});

describe('connectors/clickhouse/migrate.ts (ClickHouse)', () => {
  /** A database for the test's objects and one for its bookkeeping table, dropped afterwards. */
  async function withDatabases(fn: (db: string, meta: string, ch: ReturnType<typeof clickhouse>) => Promise<void>): Promise<void> {
    const db = uniqueTag('migrate_ch');
    const meta = `${db}_meta`;
    const ch = clickhouse();
    try {
      await fn(db, meta, ch);
    } finally {
      await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
      await ch.command({ query: `DROP DATABASE IF EXISTS ${meta}` });
      await ch.close();
    }
  }

  const first = [
    "-- Semicolons in comments; quotes too: it's fine",
    'CREATE DATABASE IF NOT EXISTS {{DB}};',
    'CREATE TABLE IF NOT EXISTS {{DB}}.notes',
    '(',
    "    id   UInt32, -- the key; it's first",
    "    note String DEFAULT 'none;yet',",
    '    `odd;name` String DEFAULT \'\'',
    ') ENGINE = MergeTree ORDER BY id; /* one; more */',
    "INSERT INTO {{DB}}.notes (id, note) VALUES (1, 'semi;colon'), (2, 'it''s; here\\'s');",
    '',
  ].join('\n');

  it("applies files once, splitting only on statement ends (';' in strings, identifiers and comments kept)", async () => {
    await withDatabases(async (db, meta, ch) => {
      await withDir(async (dir) => {
        await writeFile(path.join(dir, '010_notes.sql'), first);
        const vars = { DB: db };
        const log: string[] = [];
        expect(await migrateClickHouse(ch, { dir, vars, metaDatabase: meta, log: (m) => log.push(m) })).toEqual({ applied: ['010_notes.sql'], skipped: [] });
        expect(log).toEqual(['applied 010_notes.sql']);
        expect(await chRows(ch, `SELECT id, note, \`odd;name\` AS odd FROM ${db}.notes ORDER BY id`)).toEqual([
          { id: 1, note: 'semi;colon', odd: '' },
          { id: 2, note: "it's; here's", odd: '' },
        ]);
        expect(await migrateClickHouse(ch, { dir, vars, metaDatabase: meta })).toEqual({ applied: [], skipped: ['010_notes.sql'] });
        expect(await chRows(ch, `SELECT name, checksum FROM ${meta}.schema_migrations`)).toEqual([{ name: '010_notes.sql', checksum: sha256(first) }]);
        expect(await chRows(ch, `SELECT count() AS n FROM ${db}.notes`)).toEqual([{ n: '2' }]);
      });
    });
  });

  it('refuses an edited applied file, warns about one gone from disk, and runs nothing in a dry run', async () => {
    await withDatabases(async (db, meta, ch) => {
      await withDir(async (dir) => {
        const vars = { DB: db };
        await writeFile(path.join(dir, '010_notes.sql'), first);
        await migrateClickHouse(ch, { dir, vars, metaDatabase: meta });

        await appendFile(path.join(dir, '010_notes.sql'), '-- edited after being applied\n');
        await expect(migrateClickHouse(ch, { dir, vars, metaDatabase: meta })).rejects.toThrow(MigrationError);
        await expect(migrateClickHouse(ch, { dir, vars, metaDatabase: meta })).rejects.toThrow(/changed on disk: 010_notes\.sql/);

        // 010 retired (its objects made elsewhere); a new file arrives.
        await rm(path.join(dir, '010_notes.sql'));
        await writeFile(path.join(dir, '020_more.sql'), "CREATE TABLE {{DB}}.more (id UInt32) ENGINE = Memory;\nINSERT INTO {{DB}}.more VALUES (1);\n");
        const dry: string[] = [];
        expect(await migrateClickHouse(ch, { dir, vars, metaDatabase: meta, dryRun: true, log: (m) => dry.push(m) })).toEqual({ applied: ['020_more.sql'], skipped: [] });
        expect(dry).toEqual([
          `warning: applied migrations not found on disk: 010_notes.sql (${meta}.schema_migrations)`,
          `-- would apply 020_more.sql\nCREATE TABLE ${db}.more (id UInt32) ENGINE = Memory;\nINSERT INTO ${db}.more VALUES (1);\n`,
        ]);
        expect(await chRows(ch, `SELECT count() AS n FROM system.tables WHERE database = {db:String} AND name = 'more'`, { db })).toEqual([{ n: '0' }]);

        const log: string[] = [];
        expect(await migrateClickHouse(ch, { dir, vars, metaDatabase: meta, log: (m) => log.push(m) })).toEqual({ applied: ['020_more.sql'], skipped: [] });
        expect(log).toEqual([`warning: applied migrations not found on disk: 010_notes.sql (${meta}.schema_migrations)`, 'applied 020_more.sql']);
        expect(await chRows(ch, `SELECT name FROM ${meta}.schema_migrations ORDER BY name`)).toEqual([{ name: '010_notes.sql' }, { name: '020_more.sql' }]);
      });
    });
  });

  it('names the file and the statement that failed, and does not record the file', async () => {
    await withDatabases(async (db, meta, ch) => {
      await withDir(async (dir) => {
        await writeFile(path.join(dir, '010_broken.sql'), 'CREATE DATABASE {{DB}};\nSELECT no_such_function();\n');
        const run = migrateClickHouse(ch, { dir, vars: { DB: db }, metaDatabase: meta });
        await expect(run).rejects.toThrow(MigrationError);
        await expect(run).rejects.toThrow(/migration 010_broken\.sql failed: [\s\S]*statement:\nSELECT no_such_function\(\)/);
        expect(await chRows(ch, `SELECT count() AS n FROM ${meta}.schema_migrations`)).toEqual([{ n: '0' }]);
      });
    });
  });

  it('runs nothing already recorded in an existing schema_migrations (a stack migrated before the shared runner)', async () => {
    await withDatabases(async (_db, meta, ch) => {
      const files = listMigrations();
      // The table and rows as the earlier ClickHouse runner wrote them; the DDL itself never ran here.
      await ch.command({ query: `CREATE DATABASE ${meta}` });
      await ch.command({
        query: `CREATE TABLE ${meta}.schema_migrations (name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY name`,
      });
      for (const f of files) {
        const checksum = sha256(await readFile(path.join(ddlDir, f.name), 'utf8'));
        await ch.insert({ table: `${meta}.schema_migrations`, values: [{ name: f.name, checksum }], format: 'JSONEachRow' });
      }
      const log: string[] = [];
      expect(await migrateClickHouse(ch, { metaDatabase: meta, vars: {}, log: (m) => log.push(m) })).toEqual({ applied: [], skipped: files.map((f) => f.name) });
      expect(log).toEqual([]);
    });
  });

  it("the live stack's astros_meta.schema_migrations holds each shipped file once, and a rerun applies nothing", async () => {
    const ch = clickhouse();
    try {
      const files = listMigrations();
      const recorded = await chRows<{ name: string; checksum: string }>(ch, 'SELECT name, checksum FROM astros_meta.schema_migrations ORDER BY name, applied_at');
      expect(recorded).toEqual(files.map((f) => ({ name: f.name, checksum: f.checksum })));
      expect(await migrateClickHouse(ch, { vars: ddlVars() })).toEqual({ applied: [], skipped: files.map((f) => f.name) });
    } finally {
      await ch.close();
    }
  });
});
