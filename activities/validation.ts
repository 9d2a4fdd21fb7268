/**
 * validatePipeline's activities: prove that a Postgres table and its
 * ClickHouse copy agree at one consistent point, value by value.
 *
 * Consistent point. `compareTable` opens a REPEATABLE READ, READ ONLY
 * transaction and, in its first statement, reads `pg_current_wal_insert_lsn()`.
 * The snapshot is taken when that statement starts and the LSN is read while
 * it runs, so every transaction visible in the snapshot has its commit record
 * below that LSN: the watermark W. The same transaction is held open (with the
 * same snapshot) until the drill-down has finished, so every Postgres read of
 * one validation sees the same data.
 *
 * Caught up. ClickHouse only sees changes of captured tables, so "ClickHouse
 * has reached W" is proven from positions, not from ClickHouse's own
 * versions (an idle table's max version stays below W forever):
 *  - mode `slot` (a live CDC pipeline): the Debezium slot's
 *    `confirmed_flush_lsn` >= W (Debezium acknowledges an LSN only after Kafka
 *    has the events of every transaction that committed before it), then the
 *    ClickHouse Kafka consumer group has committed offsets >= the topic's end
 *    offsets read after that (the Kafka engine commits only after the
 *    materialized views have inserted the block). Both together: every change
 *    committed before the snapshot is in the ClickHouse table.
 *  - mode `version`: ClickHouse's max(version) (deleted rows included) >=
 *    `minVersion` (default W). For callers that know the LSN of the last
 *    change they need to see (e.g. the ingest run that just wrote).
 *  - mode `none`: compare as is (static copies, the benchmark).
 * Not caught up within `maxWaitMs` is the outcome `lag`, never `mismatch`.
 *
 * Checksums. Each row is rendered as the same canonical text in both engines
 * (timestamps as UTC microseconds since the epoch, numerics as exact decimal
 * text without trailing zeros, text length-prefixed so that NULL ('N') and ''
 * ('0:') and separators can never be confused), hashed with MD5 (the one
 * hash both engines have) and reduced to a signed 64-bit integer (first 8
 * bytes, big-endian). Rows go to one of N buckets by their key alone: the
 * key modulo N when it is a single integer column (the common case, and one
 * MD5 per row cheaper), else the MD5 of the canonical key; each engine returns, in a single GROUP BY query, per bucket the row
 * count and the exact (128-bit / numeric) sum of the row hashes. Buckets
 * whose count or sum differ are drilled into: both engines list (key, hash)
 * for those buckets only, and the keys missing, extra or different are named.
 * A key whose ClickHouse version is above W changed after the snapshot: it is
 * counted as such, not as a mismatch.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { Kafka, logLevel as kafkaLogLevel } from 'kafkajs';
import type pg from 'pg';
import { IngestErrorType, permanentFailure } from './errors.ts';
import { cancelled, heartbeat } from './heartbeat.ts';

// ---------------------------------------------------------------------------
// Input and report types (plain data: they travel through workflow history)

export type CatchUpSpec =
  | { mode: 'none' }
  | { mode: 'version'; /** LSN as X/Y or a decimal number; default: the snapshot watermark. */ minVersion?: string }
  | {
      mode: 'slot';
      slotName: string;
      /** Emit a logical decoding message after the snapshot so that an idle slot advances past it (default true). */
      nudge?: boolean;
      /** The ClickHouse Kafka engine's topic and consumer group; without it only the Debezium side is checked. */
      kafka?: { topic: string; groupId: string; brokers?: string[] };
    };

export interface ValidationSpec {
  source: {
    schema: string;
    table: string;
    /** Key columns; default: the table's primary key. */
    key?: string[];
    /** Compared columns; default: every non-key column that exists in both engines. */
    columns?: string[];
  };
  target: {
    database: string;
    table: string;
    /** Version column (the source LSN); required by catch-up mode `version` and to tell later changes apart. */
    versionColumn?: string;
    /** Deleted flag (rows with a non-zero flag are not live). */
    deletedColumn?: string;
  };
  catchUp: CatchUpSpec;
  /** Hash buckets (default 1024). */
  buckets?: number;
  /** Longest wait for ClickHouse to catch up (default 60 s). */
  maxWaitMs?: number;
  pollMs?: number;
  /** Buckets drilled into at most (default 256); the rest are counted only. */
  maxDrillBuckets?: number;
  /** Keys named per kind of difference at most (default 20). */
  maxKeys?: number;
  /** max_parallel_workers_per_gather for the Postgres aggregate (default: the server's setting). */
  pgParallelWorkers?: number;
}

export type ValidationOutcome = 'agree' | 'mismatch' | 'lag';
export type DiffKind = 'missing' | 'extra' | 'different';

export interface KeyDiff {
  kind: DiffKind;
  /** Key column values as text, in key order. */
  key: string[];
  /** ClickHouse version of the key's latest row, when it has one. */
  targetVersion?: string;
  /** True when ClickHouse's latest row for the key is a delete. */
  deletedInTarget?: boolean;
}

export interface ValidationReport {
  reportKey: string;
  source: string;
  target: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  outcome: ValidationOutcome;
  /** Snapshot watermark W as a Postgres LSN (X/Y) and as the number Debezium writes into `version`. */
  snapshotLsn: string;
  snapshotLsnNumber: string;
  catchUp: { mode: CatchUpSpec['mode']; caughtUp: boolean; waitedMs: number; detail: string };
  keyColumns: string[];
  columns: string[];
  /** Source columns absent from the target (schema drift): a mismatch. */
  missingColumns: string[];
  sourceRows: number | null;
  targetRows: number | null;
  buckets: number;
  mismatchedBuckets: number;
  drilledBuckets: number;
  missing: number;
  extra: number;
  different: number;
  /** Keys that differ only because ClickHouse already has a change made after the snapshot. */
  changedAfterSnapshot: number;
  /** True when not every mismatching bucket was drilled into (the counts above are then lower bounds). */
  truncated: boolean;
  samples: KeyDiff[];
  phasesMs: { snapshot: number; catchUp: number; checksum: number; drillDown: number };
  summary: string;
}

// ---------------------------------------------------------------------------
// Pure helpers (unit-tested)

/** '16/B374D848' -> 98147539016n */
export function lsnToBigInt(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (m) return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
  if (/^[0-9]+$/.test(lsn.trim())) return BigInt(lsn.trim());
  throw new Error(`not an LSN: ${JSON.stringify(lsn)}`);
}

export function bigIntToLsn(v: bigint): string {
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}

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

/** How a column is rendered canonically; decided by the Postgres type. */
export type ValueKind = 'timestamp' | 'date' | 'numeric' | 'integer' | 'boolean' | 'float' | 'text';

export function valueKindOf(pgType: string): ValueKind {
  const t = pgType.toLowerCase();
  if (t.startsWith('timestamp')) return 'timestamp';
  if (t === 'date') return 'date';
  if (t.startsWith('numeric') || t.startsWith('decimal')) return 'numeric';
  if (t === 'smallint' || t === 'integer' || t === 'bigint') return 'integer';
  if (t === 'boolean') return 'boolean';
  if (t === 'real' || t === 'double precision') return 'float';
  return 'text';
}

/** Text kinds are length-prefixed ('<bytes>:<value>'); the other kinds never contain '|' or ':'. */
const prefixed = (kind: ValueKind): boolean => kind === 'text';

/** Inverse of the canonical key encoding, for display: '7:abc def|42' -> ['abc def', '42']. */
export function decodeKey(canonical: string, kinds: ValueKind[]): string[] {
  const buf = Buffer.from(canonical, 'utf8');
  const out: string[] = [];
  let pos = 0;
  kinds.forEach((kind, i) => {
    if (i > 0) pos++; // the '|' separator
    if (buf[pos] === 0x4e /* N */ && (pos + 1 === buf.length || buf[pos + 1] === 0x7c)) {
      out.push('NULL');
      pos++;
      return;
    }
    if (prefixed(kind)) {
      const colon = buf.indexOf(0x3a, pos);
      const len = Number(buf.subarray(pos, colon).toString('latin1'));
      out.push(buf.subarray(colon + 1, colon + 1 + len).toString('utf8'));
      pos = colon + 1 + len;
    } else {
      let end = buf.indexOf(0x7c, pos);
      if (end < 0) end = buf.length;
      out.push(buf.subarray(pos, end).toString('utf8'));
      pos = end;
    }
  });
  return out;
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

// ---------------------------------------------------------------------------
// SQL generation (exported for the benchmark and tests)

export const pgIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;
export const chIdent = (name: string): string => `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;

function pgValue(col: string, kind: ValueKind): string {
  const c = pgIdent(col);
  switch (kind) {
    case 'timestamp':
      // extract(epoch) is numeric (exact) since PG 14
      return `(extract(epoch from ${c}) * 1000000)::bigint::text`;
    case 'date':
      return `to_char(${c}, 'YYYY-MM-DD')`;
    case 'numeric':
      return `trim_scale(${c})::text`;
    case 'boolean':
      return `(${c})::int::text`;
    case 'text':
      return `${c}::text`;
    default:
      return `${c}::text`;
  }
}

function pgEncoded(col: string, kind: ValueKind): string {
  const v = pgValue(col, kind);
  return prefixed(kind) ? `coalesce(octet_length(${v})::text || ':' || ${v}, 'N')` : `coalesce(${v}, 'N')`;
}

/** Base ClickHouse type without Nullable()/LowCardinality() wrappers. */
export function chBaseType(type: string): string {
  let t = type.trim();
  for (;;) {
    const m = /^(Nullable|LowCardinality)\((.*)\)$/.exec(t);
    if (!m?.[2]) return t;
    t = m[2];
  }
}

function chValue(col: string, kind: ValueKind, chType: string): string {
  const c = chIdent(col);
  const base = chBaseType(chType);
  const isString = base === 'String' || base.startsWith('FixedString');
  switch (kind) {
    case 'timestamp':
      return isString
        ? `toString(toUnixTimestamp64Micro(parseDateTime64BestEffortOrNull(${c}, 6, 'UTC')))`
        : `toString(toUnixTimestamp64Micro(toDateTime64(${c}, 6, 'UTC')))`;
    case 'date':
      return isString ? c : `toString(toDate32(${c}))`;
    case 'numeric':
      // Decimal's text has no trailing zeros (output_format_decimal_trailing_zeros=0, set per query); a String is trimmed the same way.
      return isString ? `replaceRegexpOne(replaceRegexpOne(${c}, '(\\\\.[0-9]*[1-9])0+$', '\\\\1'), '\\\\.0+$', '')` : `toString(${c})`;
    case 'boolean':
      return `toString(toUInt8(${c}))`;
    default:
      return isString ? c : `toString(${c})`;
  }
}

function chEncoded(col: string, kind: ValueKind, chType: string): string {
  const v = chValue(col, kind, chType);
  return prefixed(kind) ? `ifNull(concat(toString(length(${v})), ':', ${v}), 'N')` : `ifNull(${v}, 'N')`;
}

export interface ColumnPlan {
  name: string;
  kind: ValueKind;
  chType: string;
}

export interface TablePlan {
  pgTable: string;
  chTable: string;
  key: ColumnPlan[];
  columns: ColumnPlan[];
  buckets: number;
  versionColumn?: string;
  deletedColumn?: string;
  final: boolean;
}

const joinPg = (parts: string[]): string => (parts.length === 0 ? `''` : parts.join(` || '|' || `));
const joinCh = (parts: string[]): string => (parts.length === 1 ? (parts[0] ?? `''`) : parts.length === 0 ? `''` : `concat(${parts.join(`, '|', `)})`);

/** The single integer key column, if that is the key: its buckets are the key modulo N. */
function integerKey(p: TablePlan): ColumnPlan | undefined {
  const [only, ...rest] = p.key;
  return only?.kind === 'integer' && rest.length === 0 ? only : undefined;
}

/** Inner Postgres query: canonical key k, bucket b and row hash h of every row. */
export function pgRowsSql(p: TablePlan): string {
  const k = joinPg(p.key.map((c) => pgEncoded(c.name, c.kind)));
  const r = joinPg(p.columns.map((c) => pgEncoded(c.name, c.kind)));
  const ik = integerKey(p);
  const n = p.buckets;
  const b = ik ? `(((${pgIdent(ik.name)}::bigint % ${n}) + ${n}) % ${n})::int` : `(('x' || substr(md5(${k}), 1, 8))::bit(32)::bigint % ${n})::int`;
  return `select k, b, ('x' || substr(md5(k || '#' || r), 1, 16))::bit(64)::bigint as h
from (select ${k} as k, ${r} as r, ${b} as b from ${p.pgTable}) rows`;
}

export function pgBucketsSql(p: TablePlan): string {
  return `select b as bucket, count(*)::int as rows, sum(h)::text as sum from (${pgRowsSql(p)}) hashed group by b`;
}

export function pgDrillSql(p: TablePlan): string {
  return `select k, h::text as h from (${pgRowsSql(p)}) hashed where b = any($1::int[])`;
}

function chRowsSql(p: TablePlan, opts: { final: boolean; live: boolean }): string {
  const k = joinCh(p.key.map((c) => chEncoded(c.name, c.kind, c.chType)));
  const r = joinCh(p.columns.map((c) => chEncoded(c.name, c.kind, c.chType)));
  const extra = [
    p.versionColumn ? `, ${chIdent(p.versionColumn)} AS v` : '',
    p.deletedColumn ? `, toUInt8(${chIdent(p.deletedColumn)} != 0) AS d` : '',
  ].join('');
  const where = opts.live && p.deletedColumn ? ` WHERE ${chIdent(p.deletedColumn)} = 0` : '';
  const ik = integerKey(p);
  const n = p.buckets;
  const b = ik
    ? `toUInt32(((toInt64(${chIdent(ik.name)}) % toInt64(${n})) + toInt64(${n})) % toInt64(${n}))`
    : `toUInt32(reinterpretAsUInt32(reverse(substring(MD5(${k}), 1, 4))) % ${n})`;
  return `SELECT k, b, reinterpretAsInt64(reverse(substring(MD5(concat(k, '#', r)), 1, 8))) AS h${p.versionColumn ? ', v' : ''}${p.deletedColumn ? ', d' : ''}
FROM (SELECT ${k} AS k, ${r} AS r, ${b} AS b${extra} FROM ${p.chTable}${opts.final ? ' FINAL' : ''}${where})`;
}

export function chBucketsSql(p: TablePlan): string {
  return `SELECT b AS bucket, toUInt32(count()) AS rows, toString(sum(toInt128(h))) AS sum FROM (${chRowsSql(p, { final: p.final, live: true })}) GROUP BY b`;
}

/** Latest row per key in the given buckets, deleted ones included (argMax over the version, i.e. what FINAL keeps). */
export function chDrillSql(p: TablePlan): string {
  const rows = chRowsSql(p, { final: !p.versionColumn && p.final, live: false });
  if (!p.versionColumn) {
    return `SELECT k, toString(h) AS h${p.deletedColumn ? ', d' : ', 0 AS d'} FROM (${rows}) WHERE b IN {buckets:Array(UInt32)}`;
  }
  return `SELECT k, toString(argMax(h, v)) AS h, toString(max(v)) AS version, ${p.deletedColumn ? 'argMax(d, v)' : '0'} AS d
FROM (${rows}) WHERE b IN {buckets:Array(UInt32)} GROUP BY k`;
}

// ---------------------------------------------------------------------------
// Activities

export interface ValidationDeps {
  pool: pg.Pool;
  /** Absent when the worker has no CLICKHOUSE_URL: validation then fails with InvalidInput. */
  clickhouse?: ClickHouseClient;
  /** Default Kafka brokers for catch-up mode `slot`. */
  kafkaBrokers?: string[];
}

export interface CompareTableInput {
  spec: ValidationSpec;
  /** Idempotency key of the report (the workflow passes its workflow id / run id). */
  reportKey: string;
}

const CH_SETTINGS = {
  output_format_json_quote_64bit_integers: 1,
  output_format_decimal_trailing_zeros: 0,
  // FINAL on one thread per part would be slow; let the engine use the cores.
  max_threads: 0,
} as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const IDENT = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

function checkIdent(what: string, name: string | undefined): void {
  if (name !== undefined && !IDENT.test(name)) {
    throw permanentFailure(IngestErrorType.InvalidInput, `${what} ${JSON.stringify(name)} is not a plain SQL identifier`);
  }
}

async function chRows<T>(ch: ClickHouseClient, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await ch.query({ query, format: 'JSONEachRow', query_params: params, clickhouse_settings: CH_SETTINGS });
  return rs.json<T>();
}

async function waitForCatchUp(
  deps: ValidationDeps,
  ch: ClickHouseClient,
  spec: ValidationSpec,
  chTable: string,
  watermark: bigint,
): Promise<{ caughtUp: boolean; detail: string }> {
  const c = spec.catchUp;
  const maxWait = spec.maxWaitMs ?? 60_000;
  const poll = spec.pollMs ?? 250;
  const deadline = Date.now() + maxWait;
  if (c.mode === 'none') return { caughtUp: true, detail: 'no wait requested (mode none)' };

  if (c.mode === 'version') {
    const v = spec.target.versionColumn;
    if (!v) throw permanentFailure(IngestErrorType.InvalidInput, 'catch-up mode "version" needs target.versionColumn');
    const need = c.minVersion !== undefined ? lsnToBigInt(c.minVersion) : watermark;
    let have: bigint;
    for (;;) {
      const [row] = await chRows<{ v: string }>(ch, `SELECT toString(max(${chIdent(v)})) AS v FROM ${chTable}`);
      have = BigInt(row?.v ?? '0');
      if (have >= need) return { caughtUp: true, detail: `ClickHouse max(${v}) ${bigIntToLsn(have)} >= ${bigIntToLsn(need)}` };
      heartbeat({ phase: 'catch-up', have: bigIntToLsn(have), need: bigIntToLsn(need) });
      if (Date.now() + poll > deadline || cancelled()) break;
      await sleep(poll);
    }
    return { caughtUp: false, detail: `ClickHouse max(${v}) is ${bigIntToLsn(have)}, needs ${bigIntToLsn(need)} (${need - have} bytes of WAL behind)` };
  }

  // mode slot: Debezium has acknowledged W, then the ClickHouse consumer group has drained the topic.
  if (c.nudge !== false) {
    // An idle captured table gives Debezium nothing to acknowledge past W (Postgres 15's pgoutput skips
    // transactions without published changes). A transactional logical message after the snapshot is
    // a transaction that the slot streams (when the client asks for messages), so its acknowledgement
    // moves confirmed_flush_lsn past W. Best effort: without it an idle table is reported as lag.
    await deps.pool.query(`select pg_logical_emit_message(true, 'astros-validate', $1)`, [bigIntToLsn(watermark)]).catch(() => undefined);
  }
  let flushed: bigint | undefined;
  for (;;) {
    const { rows } = await deps.pool.query<{ lsn: string | null; active: boolean }>(
      'select confirmed_flush_lsn::text as lsn, active from pg_replication_slots where slot_name = $1',
      [c.slotName],
    );
    const row = rows[0];
    if (!row) throw permanentFailure(IngestErrorType.InvalidInput, `replication slot ${JSON.stringify(c.slotName)} does not exist`);
    flushed = row.lsn ? lsnToBigInt(row.lsn) : 0n;
    if (flushed >= watermark) break;
    heartbeat({ phase: 'catch-up: slot', confirmedFlush: bigIntToLsn(flushed), need: bigIntToLsn(watermark) });
    if (Date.now() + poll > deadline || cancelled()) {
      return {
        caughtUp: false,
        detail: `slot ${c.slotName} confirmed_flush_lsn ${bigIntToLsn(flushed)} < ${bigIntToLsn(watermark)} (${watermark - flushed} bytes of WAL behind${row.active ? '' : ', slot inactive'})`,
      };
    }
    await sleep(poll);
  }
  const slotDetail = `slot ${c.slotName} confirmed ${bigIntToLsn(flushed)}`;
  if (!c.kafka) return { caughtUp: true, detail: `${slotDetail} (Kafka -> ClickHouse hop not checked)` };
  const brokers = c.kafka.brokers ?? deps.kafkaBrokers;
  if (!brokers || brokers.length === 0) throw permanentFailure(IngestErrorType.InvalidInput, 'catch-up mode "slot" with kafka needs brokers');
  const admin = new Kafka({ clientId: 'astros-validate', brokers, logLevel: kafkaLogLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(c.kafka.topic);
    let behind = 0n;
    for (;;) {
      const [committed] = await admin.fetchOffsets({ groupId: c.kafka.groupId, topics: [c.kafka.topic] });
      const byPartition = new Map((committed?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
      behind = 0n;
      for (const e of ends) {
        const done = byPartition.get(e.partition) ?? -1n;
        const high = BigInt(e.high);
        if (done < high) behind += high - (done < 0n ? BigInt(e.low) : done);
      }
      if (behind === 0n) return { caughtUp: true, detail: `${slotDetail}; consumer group ${c.kafka.groupId} drained ${c.kafka.topic}` };
      heartbeat({ phase: 'catch-up: kafka', behind: behind.toString() });
      if (Date.now() + poll > deadline || cancelled()) break;
      await sleep(poll);
    }
    return { caughtUp: false, detail: `${slotDetail}, but consumer group ${c.kafka.groupId} is ${behind} message(s) behind on ${c.kafka.topic}` };
  } finally {
    await admin.disconnect();
  }
}

async function planTable(client: pg.PoolClient, ch: ClickHouseClient, spec: ValidationSpec) {
  const { source, target } = spec;
  for (const [what, name] of [
    ['source.schema', source.schema],
    ['source.table', source.table],
    ['target.database', target.database],
    ['target.table', target.table],
    ['target.versionColumn', target.versionColumn],
    ['target.deletedColumn', target.deletedColumn],
  ] as const) {
    checkIdent(what, name);
  }
  const pgTable = `${pgIdent(source.schema)}.${pgIdent(source.table)}`;
  const { rows: pgCols } = await client.query<{ name: string; type: string; pk: boolean }>(
    `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
            coalesce(a.attnum = any(i.indkey), false) as pk
       from pg_attribute a
       left join pg_index i on i.indrelid = a.attrelid and i.indisprimary
      where a.attrelid = to_regclass($1) and a.attnum > 0 and not a.attisdropped
      order by a.attnum`,
    [pgTable],
  );
  if (pgCols.length === 0) throw permanentFailure(IngestErrorType.InvalidInput, `Postgres table ${source.schema}.${source.table} does not exist`);
  const chCols = await chRows<{ name: string; type: string; engine: string }>(
    ch,
    `SELECT c.name AS name, c.type AS type, t.engine AS engine FROM system.columns c
       JOIN system.tables t ON t.database = c.database AND t.name = c.table
      WHERE c.database = {db:String} AND c.table = {t:String} ORDER BY c.position`,
    { db: target.database, t: target.table },
  );
  if (chCols.length === 0) throw permanentFailure(IngestErrorType.InvalidInput, `ClickHouse table ${target.database}.${target.table} does not exist`);
  const chType = new Map(chCols.map((c) => [c.name, c.type]));
  const pgType = new Map(pgCols.map((c) => [c.name, c.type]));
  const keyNames = source.key ?? pgCols.filter((c) => c.pk).map((c) => c.name);
  if (keyNames.length === 0) throw permanentFailure(IngestErrorType.InvalidInput, `${source.schema}.${source.table} has no primary key; pass source.key`);
  const wanted = source.columns ?? pgCols.map((c) => c.name).filter((n) => !keyNames.includes(n));
  const unknown = [...keyNames, ...wanted].filter((n) => !pgType.has(n));
  if (unknown.length > 0) throw permanentFailure(IngestErrorType.InvalidInput, `columns not in the Postgres table: ${unknown.join(', ')}`);
  const keyMissing = keyNames.filter((n) => !chType.has(n));
  if (keyMissing.length > 0) throw permanentFailure(IngestErrorType.InvalidInput, `key columns not in the ClickHouse table: ${keyMissing.join(', ')}`);
  for (const col of [target.versionColumn, target.deletedColumn]) {
    if (col !== undefined && !chType.has(col)) throw permanentFailure(IngestErrorType.InvalidInput, `column ${col} not in the ClickHouse table`);
  }
  const plan = (n: string): ColumnPlan => ({ name: n, kind: valueKindOf(pgType.get(n) ?? 'text'), chType: chType.get(n) ?? 'String' });
  const engine = chCols[0]?.engine ?? '';
  const tablePlan: TablePlan = {
    pgTable,
    chTable: `${chIdent(target.database)}.${chIdent(target.table)}`,
    key: keyNames.map(plan),
    columns: wanted.filter((n) => chType.has(n)).map(plan),
    buckets: Math.max(1, Math.min(1 << 20, Math.floor(spec.buckets ?? 1024))),
    ...(target.versionColumn !== undefined ? { versionColumn: target.versionColumn } : {}),
    ...(target.deletedColumn !== undefined ? { deletedColumn: target.deletedColumn } : {}),
    final: /Replacing|Collapsing|Summing|Aggregating/.test(engine),
  };
  return { plan: tablePlan, missingColumns: wanted.filter((n) => !chType.has(n)) };
}

/**
 * The whole comparison inside one Postgres snapshot. Exported without the
 * activity wrapper for the benchmark and scripts.
 */
export async function compareTable(deps: ValidationDeps, input: CompareTableInput): Promise<ValidationReport> {
  const ch = deps.clickhouse;
  if (!ch) throw permanentFailure(IngestErrorType.InvalidInput, 'this worker has no ClickHouse client (set CLICKHOUSE_URL)');
  const { spec } = input;
  const started = new Date();
  const t0 = performance.now();
  const phasesMs = { snapshot: 0, catchUp: 0, checksum: 0, drillDown: 0 };
  const client = await deps.pool.connect();
  try {
    await client.query('begin isolation level repeatable read read only');
    // First statement: takes the snapshot, then reads the WAL insert position (>= every visible commit).
    const { rows: lsnRows } = await client.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
    const snapshotLsn = lsnRows[0]?.lsn ?? '0/0';
    const watermark = lsnToBigInt(snapshotLsn);
    // The planner can't estimate how many buckets the GROUP BY yields, so it
    // assumes one group per row and picks sort-based aggregation, spilling to
    // disk at the default work_mem. Hash aggregation over N buckets needs
    // little memory and runs in parallel workers: 1M rows in ~1.1 s instead
    // of ~1.8 s here (bench/validate.ts). Local to this read-only transaction.
    await client.query(`set local work_mem = '64MB'`);
    await client.query('set local enable_sort = off');
    if (spec.pgParallelWorkers !== undefined) {
      await client.query(`set local max_parallel_workers_per_gather = ${Math.max(0, Math.floor(spec.pgParallelWorkers))}`);
    }
    const { plan, missingColumns } = await planTable(client, ch, spec);
    phasesMs.snapshot = Math.round(performance.now() - t0);
    heartbeat({ phase: 'snapshot', lsn: snapshotLsn });

    const t1 = performance.now();
    const waited = await waitForCatchUp(deps, ch, spec, plan.chTable, watermark);
    phasesMs.catchUp = Math.round(performance.now() - t1);

    const base = {
      reportKey: input.reportKey,
      source: `${spec.source.schema}.${spec.source.table}`,
      target: `${spec.target.database}.${spec.target.table}`,
      startedAt: started.toISOString(),
      snapshotLsn,
      snapshotLsnNumber: watermark.toString(),
      catchUp: { mode: spec.catchUp.mode, caughtUp: waited.caughtUp, waitedMs: phasesMs.catchUp, detail: waited.detail },
      keyColumns: plan.key.map((c) => c.name),
      columns: plan.columns.map((c) => c.name),
      missingColumns,
      buckets: plan.buckets,
    };
    const finish = (rest: Omit<ValidationReport, keyof typeof base | 'finishedAt' | 'durationMs' | 'phasesMs' | 'summary'>): ValidationReport => {
      const r = { ...base, ...rest, finishedAt: new Date().toISOString(), durationMs: Math.round(performance.now() - t0), phasesMs };
      return { ...r, summary: formatSummary(r) };
    };
    if (!waited.caughtUp) {
      await client.query('rollback');
      return finish({
        outcome: 'lag', sourceRows: null, targetRows: null, mismatchedBuckets: 0, drilledBuckets: 0,
        missing: 0, extra: 0, different: 0, changedAfterSnapshot: 0, truncated: false, samples: [],
      });
    }

    // One aggregate query per engine, concurrently.
    const t2 = performance.now();
    heartbeat({ phase: 'checksum' });
    const [pgBuckets, chBuckets] = await Promise.all([
      client.query<BucketSum>(pgBucketsSql(plan)).then((r) => r.rows),
      chRows<{ bucket: number; rows: number; sum: string }>(ch, chBucketsSql(plan)),
    ]);
    const toSums = (rows: { bucket: number | string; rows: number | string; sum: string }[]): BucketSum[] =>
      rows.map((r) => ({ bucket: Number(r.bucket), rows: Number(r.rows), sum: r.sum }));
    const bucketDiffs = diffBuckets(toSums(pgBuckets), toSums(chBuckets));
    const sourceRows = pgBuckets.reduce((n, b) => n + Number(b.rows), 0);
    const targetRows = chBuckets.reduce((n, b) => n + Number(b.rows), 0);
    phasesMs.checksum = Math.round(performance.now() - t2);

    // Drill down into the mismatching buckets: both engines list (key, hash) of those buckets only.
    const t3 = performance.now();
    const maxDrill = spec.maxDrillBuckets ?? 256;
    const drilled = bucketDiffs.slice(0, maxDrill).map((b) => b.bucket);
    let diffs: RowDiffResult = { diffs: [], changedAfterSnapshot: 0 };
    if (drilled.length > 0) {
      heartbeat({ phase: 'drill-down', buckets: drilled.length });
      const [src, tgt] = await Promise.all([
        client.query<SourceRow>(pgDrillSql(plan), [drilled]).then((r) => r.rows),
        chRows<{ k: string; h: string; version?: string; d: number | string }>(ch, chDrillSql(plan), { buckets: drilled }),
      ]);
      const usesLsn = spec.catchUp.mode !== 'none' && plan.versionColumn !== undefined;
      diffs = diffRows(
        src,
        tgt.map((r) => ({ k: r.k, h: r.h, deleted: Number(r.d) !== 0, ...(r.version !== undefined ? { version: r.version } : {}) })),
        usesLsn ? watermark : undefined,
      );
    }
    await client.query('commit');
    phasesMs.drillDown = Math.round(performance.now() - t3);

    const kinds = plan.key.map((c) => c.kind);
    const maxKeys = spec.maxKeys ?? 20;
    const count = (kind: DiffKind) => diffs.diffs.filter((d) => d.kind === kind).length;
    const samples: KeyDiff[] = (['missing', 'extra', 'different'] as const).flatMap((kind) =>
      diffs.diffs
        .filter((d) => d.kind === kind)
        .slice(0, maxKeys)
        .map((d) => ({
          kind,
          key: decodeKey(d.k, kinds),
          ...(d.version !== undefined ? { targetVersion: d.version } : {}),
          ...(d.deleted ? { deletedInTarget: true } : {}),
        })),
    );
    const mismatch = missingColumns.length > 0 || diffs.diffs.length > 0 || (drilled.length < bucketDiffs.length);
    return finish({
      outcome: mismatch ? 'mismatch' : 'agree',
      sourceRows,
      targetRows,
      mismatchedBuckets: bucketDiffs.length,
      drilledBuckets: drilled.length,
      missing: count('missing'),
      extra: count('extra'),
      different: count('different'),
      changedAfterSnapshot: diffs.changedAfterSnapshot,
      truncated: drilled.length < bucketDiffs.length,
      samples,
    });
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Idempotent per report key: a retried activity overwrites the row it wrote before. */
export async function recordValidationReport(pool: pg.Pool, report: ValidationReport): Promise<{ reportKey: string }> {
  await pool.query(
    `insert into validation_reports (
       report_key, source_table, target_table, started_at, finished_at, duration_ms, outcome,
       snapshot_lsn, source_rows, target_rows, buckets, mismatched_buckets, missing, extra, different,
       changed_after_snapshot, truncated, catch_up, samples, summary, report)
     values ($1, $2, $3, $4, $5, $6, $7, $8::pg_lsn, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
     on conflict (report_key) do update set
       source_table = excluded.source_table, target_table = excluded.target_table,
       started_at = excluded.started_at, finished_at = excluded.finished_at, duration_ms = excluded.duration_ms,
       outcome = excluded.outcome, snapshot_lsn = excluded.snapshot_lsn, source_rows = excluded.source_rows,
       target_rows = excluded.target_rows, buckets = excluded.buckets, mismatched_buckets = excluded.mismatched_buckets,
       missing = excluded.missing, extra = excluded.extra, different = excluded.different,
       changed_after_snapshot = excluded.changed_after_snapshot, truncated = excluded.truncated,
       catch_up = excluded.catch_up, samples = excluded.samples, summary = excluded.summary, report = excluded.report`,
    [
      report.reportKey, report.source, report.target, report.startedAt, report.finishedAt, report.durationMs, report.outcome,
      report.snapshotLsn, report.sourceRows, report.targetRows, report.buckets, report.mismatchedBuckets, report.missing,
      report.extra, report.different, report.changedAfterSnapshot, report.truncated, JSON.stringify(report.catchUp),
      JSON.stringify(report.samples), report.summary, JSON.stringify(report),
    ],
  );
  return { reportKey: report.reportKey };
}

export function createValidationActivities(deps: ValidationDeps) {
  return {
    async compareTable(input: CompareTableInput): Promise<ValidationReport> {
      return compareTable(deps, input);
    },
    async recordValidationReport(report: ValidationReport): Promise<{ reportKey: string }> {
      return recordValidationReport(deps.pool, report);
    },
  };
}

export type ValidationActivities = ReturnType<typeof createValidationActivities>;
