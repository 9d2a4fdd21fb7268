/** The pure parts of backups: names, chains of bases, what prune keeps, checksum comparison, the BACKUP/RESTORE statements. */
import { describe, expect, it } from 'vitest';
import { backupStatement, restoreStatement } from '../../connectors/clickhouse/backup.ts';
import { backupName, chain, compareChecksums, isBackupName, nameTime, pruneSet, type BackupEntry, type Manifest, type TableChecksum } from '../../activities/backup/manifest.ts';
import { lsnToBigInt } from '../../shared/lsn.ts';

const entry = (name: string, base?: string, complete = true): BackupEntry => ({ name, ...(complete ? { manifest: { name, ...(base ? { base } : {}) } as Manifest } : {}) });
const at = (d: number) => backupName(new Date(Date.UTC(2026, 0, d)), 'full');

describe('backup names and chains', () => {
  it('names sort by time and carry it', () => {
    const n = backupName(new Date('2026-12-06T04:57:00.123Z'), 'incremental');
    expect(n).toBe('20261206T045700123Z-incremental');
    expect(isBackupName(n)).toBe(true);
    expect(nameTime(n)).toBe('2026-12-06T04:57:00.123Z');
    expect(isBackupName('manifest.json')).toBe(false);
  });

  it('an incremental backup needs its bases, newest first', () => {
    const es = [entry('a'), entry('b', 'a'), entry('c', 'b')];
    expect(chain(es, 'c')).toEqual(['c', 'b', 'a']);
  });
});

describe('prune', () => {
  it('keeps the newest N and every base they need; removes old incomplete ones, not a young one', () => {
    const now = Date.UTC(2026, 0, 10);
    const es = [entry(at(1)), entry(at(2), at(1)), entry(at(3)), entry(at(4), at(3)), entry(at(5), at(4)), entry(at(6), undefined, false), { name: backupName(new Date(now - 60_000), 'full') }];
    const plan = pruneSet(es, 2, now);
    expect(plan.kept).toEqual([at(3), at(4), at(5)]);
    expect(plan.removed).toEqual([at(1), at(2), at(6)]);
  });
});

describe('checksums', () => {
  const t = (table: string, rows: string, checksum: string): TableChecksum => ({ database: 'astros', table, engine: 'MergeTree', final: false, rows, checksum });
  it('names every table that differs, is missing or is extra', () => {
    expect(compareChecksums([t('a', '1', 'x'), t('b', '2', 'y')], [t('a', '1', 'x'), t('b', '2', 'z'), t('c', '0', '0')])).toEqual([
      'astros.b: 2 rows, checksum z; the manifest says 2 rows, checksum y',
      'astros.c: not in the manifest',
    ]);
    expect(compareChecksums([t('a', '1', 'x')], [])).toEqual(['astros.a: missing from the restored copy']);
  });
});

describe('statements', () => {
  it('the database with exclusions goes last (an EXCEPT list runs to the next comma)', () => {
    expect(backupStatement(['astros', 'astros_meta'], ['astros.t_queue', 'astros.t_changelog_mv'], "File('/b/x')", "File('/b/base')")).toBe(
      "BACKUP DATABASE astros_meta, DATABASE astros EXCEPT TABLES astros.t_queue, astros.t_changelog_mv TO File('/b/x') SETTINGS base_backup = File('/b/base')",
    );
    expect(restoreStatement(['astros', 'astros_meta'], "File('/b/x')", { astros: 's0', astros_meta: 's1' })).toBe("RESTORE DATABASE astros AS s0, DATABASE astros_meta AS s1 FROM File('/b/x')");
  });

  it('LSNs as numbers', () => {
    expect(lsnToBigInt('0/9122740')).toBe(152184640n);
    expect(lsnToBigInt('16/B374D848')).toBe(97500059720n);
  });
});
