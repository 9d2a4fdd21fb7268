/**
 * The migration runner against the real Postgres: idempotent, refuses an
 * applied file that changed, and publishes only public.astronauts.
 * Each test migrates its own schema and drops it afterwards.
 */
import { cp, mkdtemp, rm, appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { MigrationError } from '../../activities/errors.ts';
import { migrate, migrationsDir, readMigrations } from '../../db/migrate.ts';
import { requireEnv, uniqueTag } from './helpers.ts';

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

describe('db/migrate.ts', () => {
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

  it('refuses to continue when an applied migration changed on disk', async () => {
    await withSchema(async (schema) => {
      const databaseUrl = requireEnv('DATABASE_URL');
      const dir = await mkdtemp(path.join(os.tmpdir(), 'astros-migrations-'));
      try {
        await cp(migrationsDir, dir, { recursive: true });
        await migrate({ databaseUrl, schema, dir });
        await appendFile(path.join(dir, '020_ingest_runs.sql'), '\n-- edited after being applied\n');
        await expect(migrate({ databaseUrl, schema, dir })).rejects.toThrow(MigrationError);
        await expect(migrate({ databaseUrl, schema, dir })).rejects.toThrow(/020_ingest_runs\.sql/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  it('rolls back a failing migration and does not record it', async () => {
    await withSchema(async (schema, db) => {
      const databaseUrl = requireEnv('DATABASE_URL');
      const dir = await mkdtemp(path.join(os.tmpdir(), 'astros-migrations-'));
      try {
        await cp(migrationsDir, dir, { recursive: true });
        await appendFile(path.join(dir, '999_broken.sql'), 'create table half_done (id int);\nselect no_such_function();\n');
        await expect(migrate({ databaseUrl, schema, dir })).rejects.toThrow(/999_broken\.sql failed/);
        const recorded = await db.query(`select filename from "${schema}".schema_migrations where filename = '999_broken.sql'`);
        expect(recorded.rowCount).toBe(0);
        const table = await db.query(`select to_regclass($1) as t`, [`"${schema}".half_done`]);
        expect(table.rows[0]).toEqual({ t: null });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
