/**
 * The Postgres migrations name the CDC role and the publication as
 * placeholders now; stacks that applied them recorded the checksums of the
 * files with the names spelled out. Checksummed as rendered, every file must
 * keep the checksum recorded before (test/fixtures holds them), or the worker
 * would refuse to start on an existing stack ("applied migration changed").
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMigrations } from '../../connectors/postgres/migrate.ts';

const recorded = JSON.parse(readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'postgres-migration-checksums.json'), 'utf8')) as Record<string, string>;

describe('Postgres migration checksums', () => {
  it('every file applied before keeps the checksum stacks recorded', async () => {
    const files = await readMigrations();
    const now = Object.fromEntries(files.filter((f) => f.name in recorded).map((f) => [f.name, f.checksum]));
    expect(now).toEqual(recorded);
  });

  it('no placeholder is left in the rendered text', async () => {
    for (const f of await readMigrations()) expect(f.sql, f.name).not.toMatch(/\{\{\w+\}\}/);
  });
});
