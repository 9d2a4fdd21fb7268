/**
 * The comparison core (pure, no I/O): which checksum buckets differ, and
 * which keys differ within them.
 */
import type { DiffKind } from '../../shared/validation.ts';

export interface BucketSum {
  bucket: number;
  rows: number;
  /** Exact sum of the signed 64-bit row hashes, decimal text. */
  sum: string;
}

export interface BucketDiff {
  bucket: number;
  sourceRows: number;
  targetRows: number;
}

/** Buckets whose row count or hash sum differ (a bucket absent on one side counts as 0 rows, sum 0). */
export function diffBuckets(source: BucketSum[], target: BucketSum[]): BucketDiff[] {
  const t = new Map(target.map((b) => [b.bucket, b]));
  const out: BucketDiff[] = [];
  for (const s of source) {
    const o = t.get(s.bucket);
    t.delete(s.bucket);
    if (!o || o.rows !== s.rows || BigInt(o.sum) !== BigInt(s.sum)) out.push({ bucket: s.bucket, sourceRows: s.rows, targetRows: o?.rows ?? 0 });
  }
  for (const o of t.values()) if (o.rows !== 0 || BigInt(o.sum) !== 0n) out.push({ bucket: o.bucket, sourceRows: 0, targetRows: o.rows });
  return out.sort((a, b) => a.bucket - b.bucket);
}

export interface SourceRow {
  k: string;
  h: string;
}

export interface TargetRow {
  k: string;
  h: string;
  /** Version of the key's latest row (absent when the target has no version column). */
  version?: string;
  deleted: boolean;
}

export interface RowDiffResult {
  diffs: { kind: DiffKind; k: string; version?: string; deleted?: boolean }[];
  changedAfterSnapshot: number;
}

/**
 * Name the keys that differ between the source rows and the target's latest
 * rows of the same buckets. With a watermark, a target row whose version is
 * above it reflects a change made after the snapshot and is set aside.
 */
export function diffRows(source: SourceRow[], target: TargetRow[], watermark?: bigint): RowDiffResult {
  const t = new Map(target.map((r) => [r.k, r]));
  const diffs: RowDiffResult['diffs'] = [];
  let changedAfterSnapshot = 0;
  const after = (r: TargetRow | undefined): boolean => watermark !== undefined && r?.version !== undefined && BigInt(r.version) > watermark;
  const extra = (r: TargetRow) => ({ ...(r.version !== undefined ? { version: r.version } : {}), deleted: r.deleted });
  for (const s of source) {
    const r = t.get(s.k);
    t.delete(s.k);
    if (r && !r.deleted && r.h === s.h) continue;
    if (after(r)) {
      changedAfterSnapshot++;
      continue;
    }
    if (!r || r.deleted) diffs.push({ kind: 'missing', k: s.k, ...(r ? extra(r) : {}) });
    else diffs.push({ kind: 'different', k: s.k, ...extra(r) });
  }
  for (const r of t.values()) {
    if (r.deleted) continue;
    if (after(r)) {
      changedAfterSnapshot++;
      continue;
    }
    diffs.push({ kind: 'extra', k: r.k, ...extra(r) });
  }
  const order: Record<DiffKind, number> = { missing: 0, extra: 1, different: 2 };
  diffs.sort((a, b) => order[a.kind] - order[b.kind] || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return { diffs, changedAfterSnapshot };
}
