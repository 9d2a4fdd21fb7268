/**
 * Was a streamed change's transaction visible in the validation's snapshot?
 *
 * A row's version is the LSN of the change itself, not of its commit: a
 * transaction that wrote before the snapshot and committed after it has
 * changes below the watermark W that the snapshot does not see. Comparing the
 * version with W alone would call such a key different. The transaction id
 * Debezium reports (`tx_id`, 32 bits) decides instead, against the snapshot
 * Postgres took (`pg_current_snapshot()`: xmin:xmax:xip, 64-bit ids).
 */

export interface PgSnapshot {
  xmin: bigint;
  xmax: bigint;
  xip: Set<bigint>;
}

/** Parses `pg_current_snapshot()::text`, e.g. `10:20:10,14,15`. */
export function parsePgSnapshot(text: string): PgSnapshot {
  const m = /^(\d+):(\d+):([\d,]*)$/.exec(text.trim());
  if (!m) throw new Error(`not a pg_snapshot: ${JSON.stringify(text)}`);
  return { xmin: BigInt(m[1]!), xmax: BigInt(m[2]!), xip: new Set(m[3] ? m[3].split(',').map((x) => BigInt(x)) : []) };
}

const EPOCH = 1n << 32n;
const HALF = 1n << 31n;

/** The 64-bit id of a 32-bit xid, taken as the one nearest to the snapshot's xmax (ids in use are within 2^31 of it). */
export function widenXid(xid32: bigint, s: PgSnapshot): bigint {
  const behind = (((s.xmax % EPOCH) - xid32) % EPOCH + EPOCH) % EPOCH;
  return behind < HALF ? s.xmax - behind : s.xmax + (EPOCH - behind);
}

/** True when the transaction's effects are in the snapshot (committed before it was taken). */
export function visibleInSnapshot(xid32: bigint, s: PgSnapshot): boolean {
  const x = widenXid(xid32, s);
  if (x < s.xmin) return true;
  return x < s.xmax && !s.xip.has(x);
}

export interface VersionedDiff {
  version?: string;
}

/**
 * Sets aside the differences whose ClickHouse row came from a transaction the
 * snapshot does not see (`txOf` maps a version to its transaction id, when the
 * change log knows it): those keys changed after the snapshot.
 */
export function setAsideInvisible<D extends VersionedDiff>(diffs: D[], txOf: Map<string, bigint>, s: PgSnapshot): { kept: D[]; setAside: number } {
  const kept: D[] = [];
  let setAside = 0;
  for (const d of diffs) {
    const tx = d.version !== undefined ? txOf.get(d.version) : undefined;
    if (tx !== undefined && !visibleInSnapshot(tx, s)) setAside++;
    else kept.push(d);
  }
  return { kept, setAside };
}
