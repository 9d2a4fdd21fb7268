/** What a comparison found, as report fields and as one readable paragraph. Pure, no I/O. */
import { decodeKey, type ValueKind } from './canonical.ts';
import type { BucketDiff, RowDiffResult } from './diff.ts';
import type { DiffKind, KeyDiff, ValidationReport } from '../../shared/validation.ts';

export type Findings = Pick<
  ValidationReport,
  'outcome' | 'mismatchedBuckets' | 'drilledBuckets' | 'missing' | 'extra' | 'different' | 'changedAfterSnapshot' | 'truncated' | 'samples'
>;

/** Nothing was compared: ClickHouse had not caught up. */
export function lagFindings(): Findings {
  return { outcome: 'lag', mismatchedBuckets: 0, drilledBuckets: 0, missing: 0, extra: 0, different: 0, changedAfterSnapshot: 0, truncated: false, samples: [] };
}

/**
 * The outcome of a caught-up comparison: a mismatch when columns are missing,
 * keys differ, or not every mismatching bucket was drilled into; up to
 * `maxKeys` keys named per kind of difference.
 */
export function findings(input: {
  bucketDiffs: BucketDiff[];
  drilledBuckets: number;
  rows: RowDiffResult;
  keyKinds: ValueKind[];
  maxKeys: number;
  missingColumns: string[];
}): Findings {
  const { bucketDiffs, drilledBuckets, rows, keyKinds, maxKeys, missingColumns } = input;
  const count = (kind: DiffKind) => rows.diffs.filter((d) => d.kind === kind).length;
  const samples: KeyDiff[] = (['missing', 'extra', 'different'] as const).flatMap((kind) =>
    rows.diffs
      .filter((d) => d.kind === kind)
      .slice(0, maxKeys)
      .map((d) => ({
        kind,
        key: decodeKey(d.k, keyKinds),
        ...(d.version !== undefined ? { targetVersion: d.version } : {}),
        ...(d.deleted ? { deletedInTarget: true } : {}),
      })),
  );
  const truncated = drilledBuckets < bucketDiffs.length;
  const mismatch = missingColumns.length > 0 || rows.diffs.length > 0 || truncated;
  return {
    outcome: mismatch ? 'mismatch' : 'agree',
    mismatchedBuckets: bucketDiffs.length,
    drilledBuckets,
    missing: count('missing'),
    extra: count('extra'),
    different: count('different'),
    changedAfterSnapshot: rows.changedAfterSnapshot,
    truncated,
    samples,
  };
}

export function formatKey(key: string[]): string {
  return key.length === 1 ? JSON.stringify(key[0]) : `(${key.map((k) => JSON.stringify(k)).join(', ')})`;
}

/** One readable paragraph: the failure message of a mismatching run and the CLI's headline. */
export function formatSummary(r: Omit<ValidationReport, 'summary'>): string {
  const head = `${r.source} vs ${r.target} at LSN ${r.snapshotLsn}`;
  if (r.outcome === 'lag') {
    return `${head}: ClickHouse has not caught up after ${(r.catchUp.waitedMs / 1000).toFixed(1)} s (${r.catchUp.detail}); lag, not a data mismatch: nothing compared`;
  }
  const counts = `source ${r.sourceRows ?? '?'} rows, target ${r.targetRows ?? '?'} live rows`;
  if (r.outcome === 'agree') {
    const after = r.changedAfterSnapshot > 0 ? `; ${r.changedAfterSnapshot} key(s) already changed after the snapshot` : '';
    return `${head}: agree (${counts}, ${r.buckets} checksum buckets equal${after}) in ${r.durationMs} ms`;
  }
  const parts: string[] = [];
  if (r.missingColumns.length > 0) parts.push(`columns missing in ClickHouse: ${r.missingColumns.join(', ')}`);
  const lines: string[] = [];
  for (const kind of ['missing', 'extra', 'different'] as const) {
    const n = r[kind];
    if (n === 0) continue;
    const label = { missing: 'missing in ClickHouse', extra: 'extra in ClickHouse', different: 'different values' }[kind];
    const keys = r.samples.filter((s) => s.kind === kind).map((s) => formatKey(s.key) + (s.deletedInTarget ? ' (deleted in ClickHouse)' : ''));
    parts.push(`${n} ${label}`);
    lines.push(`  ${label}: ${keys.join(', ')}${n > keys.length ? `, … (${n - keys.length} more)` : ''}`);
  }
  const trunc = r.truncated ? ` (only ${r.drilledBuckets} of ${r.mismatchedBuckets} mismatching buckets drilled into: counts are lower bounds)` : '';
  return [`${head}: MISMATCH: ${parts.join('; ')} (${counts})${trunc}`, ...lines].join('\n');
}
