import { describe, expect, it } from 'vitest';
import { decodeKey, valueKindOf } from '../../activities/validation/canonical.ts';
import { chBaseType } from '../../activities/validation/clickhouse-sql.ts';
import { diffBuckets, diffRows } from '../../activities/validation/diff.ts';
import { formatLsn, lsnToBigInt } from '../../shared/lsn.ts';
import { findings, formatSummary } from '../../activities/validation/report.ts';
import type { ValidationReport } from '../../shared/validation.ts';

describe('LSN conversion', () => {
  it('round-trips X/Y and matches the number Debezium writes', () => {
    expect(lsnToBigInt('0/16B3748')).toBe(0x16b3748n);
    expect(lsnToBigInt('16/B374D848')).toBe((0x16n << 32n) + 0xb374d848n);
    expect(formatLsn(lsnToBigInt('16/B374D848'))).toBe('16/B374D848');
    expect(lsnToBigInt('23803720')).toBe(23803720n);
    expect(() => lsnToBigInt('nope')).toThrow(/not an LSN/);
  });
});

describe('diffBuckets', () => {
  it('finds buckets whose count or sum differ, and buckets present on one side only', () => {
    const source = [
      { bucket: 0, rows: 2, sum: '10' },
      { bucket: 1, rows: 1, sum: '-5' },
      { bucket: 2, rows: 3, sum: '9223372036854775807000' },
      { bucket: 3, rows: 1, sum: '7' },
    ];
    const target = [
      { bucket: 0, rows: 2, sum: '10' },
      { bucket: 1, rows: 1, sum: '-6' }, // same count, different value
      { bucket: 2, rows: 2, sum: '9223372036854775807000' }, // a row missing with an offsetting hash
      { bucket: 5, rows: 1, sum: '4' }, // extra
    ];
    expect(diffBuckets(source, target)).toEqual([
      { bucket: 1, sourceRows: 1, targetRows: 1 },
      { bucket: 2, sourceRows: 3, targetRows: 2 },
      { bucket: 3, sourceRows: 1, targetRows: 0 },
      { bucket: 5, sourceRows: 0, targetRows: 1 },
    ]);
  });

  it('compares sums as exact integers, not as text', () => {
    expect(diffBuckets([{ bucket: 0, rows: 1, sum: '0010' }], [{ bucket: 0, rows: 1, sum: '10' }])).toEqual([]);
  });
});

describe('diffRows', () => {
  const src = [
    { k: '1', h: 'a' },
    { k: '2', h: 'b' },
    { k: '3', h: 'c' },
    { k: '4', h: 'd' },
  ];

  it('names missing, deleted-in-target, extra and different keys', () => {
    const tgt = [
      { k: '1', h: 'a', version: '10', deleted: false },
      { k: '2', h: 'b', version: '11', deleted: true },
      { k: '3', h: 'X', version: '12', deleted: false },
      { k: '9', h: 'z', version: '13', deleted: false },
      { k: '8', h: 'y', version: '14', deleted: true }, // deleted on both sides: fine
    ];
    expect(diffRows(src, tgt, 100n)).toEqual({
      diffs: [
        { kind: 'missing', k: '2', version: '11', deleted: true },
        { kind: 'missing', k: '4' },
        { kind: 'extra', k: '9', version: '13', deleted: false },
        { kind: 'different', k: '3', version: '12', deleted: false },
      ],
      changedAfterSnapshot: 0,
    });
  });

  it('sets aside keys whose target version is above the watermark (changed after the snapshot)', () => {
    const tgt = [
      { k: '1', h: 'a', version: '10', deleted: false },
      { k: '2', h: 'b', version: '500', deleted: true },
      { k: '3', h: 'X', version: '501', deleted: false },
      { k: '4', h: 'd', version: '20', deleted: false },
      { k: '9', h: 'z', version: '502', deleted: false },
    ];
    expect(diffRows(src, tgt, 100n)).toEqual({ diffs: [], changedAfterSnapshot: 3 });
    // Without a watermark (no LSN versions) they are differences.
    expect(diffRows(src, tgt).diffs.map((d) => `${d.kind}:${d.k}`)).toEqual(['missing:2', 'extra:9', 'different:3']);
  });
});

describe('canonical encoding helpers', () => {
  it('maps Postgres types to value kinds', () => {
    expect(valueKindOf('timestamp with time zone')).toBe('timestamp');
    expect(valueKindOf('timestamp(3) without time zone')).toBe('timestamp');
    expect(valueKindOf('numeric(12,2)')).toBe('numeric');
    expect(valueKindOf('bigint')).toBe('integer');
    expect(valueKindOf('boolean')).toBe('boolean');
    expect(valueKindOf('date')).toBe('date');
    expect(valueKindOf('character varying(20)')).toBe('text');
    expect(valueKindOf('uuid')).toBe('text');
  });

  it('strips Nullable and LowCardinality', () => {
    expect(chBaseType('LowCardinality(Nullable(String))')).toBe('String');
    expect(chBaseType("Nullable(DateTime64(6, 'UTC'))")).toBe("DateTime64(6, 'UTC')");
    expect(chBaseType('UInt64')).toBe('UInt64');
  });

  it('decodes canonical keys, including separators, multi-byte text, NULL and empty', () => {
    expect(decodeKey('11:anne|smith', ['text'])).toEqual(['anne|smith']);
    expect(decodeKey('4:zoë|42', ['text', 'integer'])).toEqual(['zoë', '42']);
    expect(decodeKey('0:|N', ['text', 'text'])).toEqual(['', 'NULL']);
    expect(decodeKey('1704067201000001', ['timestamp'])).toEqual(['1704067201000001']);
  });
});

describe('findings', () => {
  const agreeing = { bucketDiffs: [], drilledBuckets: 0, rows: { diffs: [], changedAfterSnapshot: 2 }, keyKinds: ['text' as const], maxKeys: 20, missingColumns: [] };

  it('agrees when nothing differs, counting keys changed after the snapshot', () => {
    expect(findings(agreeing)).toEqual({
      outcome: 'agree', mismatchedBuckets: 0, drilledBuckets: 0, missing: 0, extra: 0, different: 0, changedAfterSnapshot: 2, truncated: false, samples: [],
    });
  });

  it('counts every differing key, names at most maxKeys per kind and decodes them', () => {
    const f = findings({
      ...agreeing,
      bucketDiffs: [{ bucket: 1, sourceRows: 3, targetRows: 2 }],
      drilledBuckets: 1,
      rows: {
        diffs: [
          { kind: 'missing', k: '1:a', version: '7', deleted: true },
          { kind: 'missing', k: '1:b' },
          { kind: 'different', k: '1:c', version: '8', deleted: false },
        ],
        changedAfterSnapshot: 0,
      },
      maxKeys: 1,
    });
    expect(f).toMatchObject({ outcome: 'mismatch', mismatchedBuckets: 1, drilledBuckets: 1, missing: 2, extra: 0, different: 1, truncated: false });
    expect(f.samples).toEqual([
      { kind: 'missing', key: ['a'], targetVersion: '7', deletedInTarget: true },
      { kind: 'different', key: ['c'], targetVersion: '8' },
    ]);
  });

  it('is a mismatch when columns are missing or not every mismatching bucket was drilled into', () => {
    expect(findings({ ...agreeing, missingColumns: ['mission'] }).outcome).toBe('mismatch');
    const partial = findings({ ...agreeing, bucketDiffs: [{ bucket: 1, sourceRows: 1, targetRows: 1 }], drilledBuckets: 0 });
    expect(partial).toMatchObject({ outcome: 'mismatch', truncated: true, mismatchedBuckets: 1 });
  });
});

describe('formatSummary', () => {
  const base: Omit<ValidationReport, 'summary'> = {
    reportKey: 'wf/run',
    source: 'public.astronauts',
    target: 'astros.astronauts',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:01.000Z',
    durationMs: 1000,
    outcome: 'agree',
    snapshotLsn: '0/16B3748',
    snapshotLsnNumber: String(0x16b3748),
    catchUp: { mode: 'slot', caughtUp: true, waitedMs: 12, detail: 'ok' },
    keyColumns: ['person_key'],
    columns: ['name', 'craft'],
    missingColumns: [],
    sourceRows: 10,
    targetRows: 10,
    buckets: 1024,
    mismatchedBuckets: 0,
    drilledBuckets: 0,
    missing: 0,
    extra: 0,
    different: 0,
    changedAfterSnapshot: 0,
    truncated: false,
    samples: [],
    phasesMs: { snapshot: 1, catchUp: 12, checksum: 100, drillDown: 0 },
  };

  it('says agree with the counts and the LSN', () => {
    expect(formatSummary(base)).toBe(
      'public.astronauts vs astros.astronauts at LSN 0/16B3748: agree (source 10 rows, target 10 live rows, 1024 checksum buckets equal) in 1000 ms',
    );
  });

  it('names the keys of each kind of difference and says when there are more', () => {
    const text = formatSummary({
      ...base,
      outcome: 'mismatch',
      targetRows: 10,
      mismatchedBuckets: 3,
      drilledBuckets: 3,
      missing: 1,
      extra: 1,
      different: 3,
      samples: [
        { kind: 'missing', key: ['anne smith'], targetVersion: '99', deletedInTarget: true },
        { kind: 'extra', key: ['bob'] },
        { kind: 'different', key: ['carl'] },
        { kind: 'different', key: ['dora'] },
      ],
    });
    expect(text).toBe(
      [
        'public.astronauts vs astros.astronauts at LSN 0/16B3748: MISMATCH: 1 missing in ClickHouse; 1 extra in ClickHouse; 3 different values (source 10 rows, target 10 live rows)',
        '  missing in ClickHouse: "anne smith" (deleted in ClickHouse)',
        '  extra in ClickHouse: "bob"',
        '  different values: "carl", "dora", … (1 more)',
      ].join('\n'),
    );
  });

  it('reports lag as lag, not as a mismatch', () => {
    const text = formatSummary({ ...base, outcome: 'lag', sourceRows: null, targetRows: null, catchUp: { mode: 'version', caughtUp: false, waitedMs: 1500, detail: 'behind' } });
    expect(text).toMatch(/has not caught up after 1\.5 s \(behind\); lag, not a data mismatch/);
    expect(text).not.toMatch(/MISMATCH/);
  });

  it('reports schema drift and truncated drill-downs', () => {
    const text = formatSummary({ ...base, outcome: 'mismatch', missingColumns: ['mission'], truncated: true, mismatchedBuckets: 300, drilledBuckets: 256 });
    expect(text).toMatch(/columns missing in ClickHouse: mission/);
    expect(text).toMatch(/only 256 of 300 mismatching buckets drilled into/);
  });
});
