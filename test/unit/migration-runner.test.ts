import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MigrationError } from '../../shared/errors.ts';
import { planMigrations, readMigrationDir, runMigrations, type MigrationFile, type MigrationTarget } from '../../connectors/migration-runner.ts';

function file(name: string, sql = `-- ${name}`): MigrationFile {
  return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
}

/** An engine in memory: what it recorded, what it ran, and a file that fails if asked. */
function memoryTarget(recorded: MigrationFile[] = [], failOn?: string) {
  const rows = new Map(recorded.map((f) => [f.name, f.checksum]));
  const ran: string[] = [];
  const target: MigrationTarget = {
    where: 'memory',
    applied: () => Promise.resolve(new Map(rows)),
    apply: (f) => {
      if (f.name === failOn) return Promise.reject(new Error('syntax error at "oops"'));
      ran.push(f.name);
      rows.set(f.name, f.checksum);
      return Promise.resolve();
    },
    preview: (f) => `rendered ${f.name}`,
  };
  return { target, rows, ran };
}

const a = file('010_a.sql');
const b = file('020_b.sql');
const c = file('030_c.sql');

describe('planMigrations', () => {
  it('sorts files into pending, already applied, changed and missing', () => {
    const applied = new Map([
      [a.name, a.checksum],
      [b.name, 'an older checksum'],
      ['005_retired.sql', 'x'],
    ]);
    expect(planMigrations([a, b, c], applied)).toEqual({
      pending: [c],
      alreadyApplied: [a.name, b.name],
      changed: [b.name],
      missing: ['005_retired.sql'],
    });
  });
});

describe('runMigrations', () => {
  it('applies pending files in order, each once', async () => {
    const { target, ran, rows } = memoryTarget([a]);
    const log: string[] = [];
    expect(await runMigrations([a, b, c], target, { log: (m) => log.push(m) })).toEqual({ applied: [b.name, c.name], alreadyApplied: [a.name] });
    expect(ran).toEqual([b.name, c.name]);
    expect(log).toEqual(['applied 020_b.sql', 'applied 030_c.sql']);
    expect([...rows.keys()]).toEqual([a.name, b.name, c.name]);
    expect(await runMigrations([a, b, c], target)).toEqual({ applied: [], alreadyApplied: [a.name, b.name, c.name] });
    expect(ran).toEqual([b.name, c.name]);
  });

  it('refuses an applied file whose content changed, naming it, before running anything', async () => {
    const { target, ran } = memoryTarget([a, b]);
    const edited = { ...file(b.name, `${b.sql}\n-- edited`) };
    const run = runMigrations([a, edited, c], target);
    await expect(run).rejects.toThrow(MigrationError);
    await expect(run).rejects.toThrow(/changed on disk: 020_b\.sql \(memory\); never edit an applied migration/);
    expect(ran).toEqual([]);
  });

  it('reports an applied file that is no longer on disk as a warning line and carries on', async () => {
    const { target, ran } = memoryTarget([a, b]);
    const log: string[] = [];
    expect(await runMigrations([b, c], target, { log: (m) => log.push(m) })).toEqual({ applied: [c.name], alreadyApplied: [b.name] });
    expect(log).toEqual(['warning: applied migrations not found on disk: 010_a.sql (memory)', 'applied 030_c.sql']);
    expect(ran).toEqual([c.name]);
  });

  it('stops at a failing file with a MigrationError naming it; earlier files stay applied, later ones do not run', async () => {
    const { target, ran, rows } = memoryTarget([], b.name);
    const err = await runMigrations([a, b, c], target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toBe('migration 020_b.sql failed: syntax error at "oops"');
    expect((err as Error).cause).toBeInstanceOf(Error);
    expect(ran).toEqual([a.name]);
    expect([...rows.keys()]).toEqual([a.name]);
  });

  it('dry run prints what would be applied and runs nothing', async () => {
    const { target, ran, rows } = memoryTarget([a]);
    const log: string[] = [];
    expect(await runMigrations([a, b], target, { dryRun: true, log: (m) => log.push(m) })).toEqual({ applied: [b.name], alreadyApplied: [a.name] });
    expect(log).toEqual(['-- would apply 020_b.sql\nrendered 020_b.sql']);
    expect(ran).toEqual([]);
    expect([...rows.keys()]).toEqual([a.name]);
  });
});

describe('readMigrationDir', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const withFiles = (files: Record<string, string>): string => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'astros-runner-'));
    for (const [name, sql] of Object.entries(files)) writeFileSync(path.join(dir, name), sql);
    return dir;
  };

  it('reads NNN_name.sql files in order with the SHA-256 of their content, ignoring other files', () => {
    const d = withFiles({ '020_b.sql': 'select 2;', '010_a.sql': 'select 1;', 'migrate.ts': '', 'README.md': '' });
    expect(readMigrationDir(d)).toEqual([
      { name: '010_a.sql', sql: 'select 1;', checksum: createHash('sha256').update('select 1;').digest('hex') },
      { name: '020_b.sql', sql: 'select 2;', checksum: createHash('sha256').update('select 2;').digest('hex') },
    ]);
  });

  it('rejects a .sql file that is not named NNN_name.sql, and two files sharing a number', () => {
    expect(() => readMigrationDir(withFiles({ '010_a.sql': '', '20_b.sql': '' }))).toThrow(/must look like 010_name\.sql: 20_b\.sql/);
    rmSync(dir!, { recursive: true });
    expect(() => readMigrationDir(withFiles({ '010_a.sql': '', '010_b.sql': '' }))).toThrow(/share the number 010/);
  });
});
