/**
 * Pipeline validation's input and report: plain data, because they travel
 * through workflow history (validatePipeline's input, compareTable's result).
 */

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

/** What the connector does to a text column's value (catalog column options), recomputed on the Postgres side. */
export type ColumnTransform =
  /** Lower-case hex digest of salt || value, cut to `length` characters when the column has a length. */
  | { kind: 'hash'; algorithm: 'sha256' | 'sha512'; salt: string; length?: number }
  /** Every value, NULL included, becomes `chars` asterisks. */
  | { kind: 'mask'; chars: number }
  /** The first `chars` characters. */
  | { kind: 'truncate'; chars: number };

export interface ValidationSpec {
  source: {
    schema: string;
    table: string;
    /** Key columns; default: the table's primary key. */
    key?: string[];
    /** Compared columns; default: every non-key column that exists in both engines. */
    columns?: string[];
    /** Columns the connector transforms (hash, mask, truncate): Postgres' value is transformed the same way before comparing. */
    transforms?: Record<string, ColumnTransform>;
  };
  target: {
    database: string;
    table: string;
    /** Version column (the source LSN); required by catch-up mode `version` and to tell later changes apart. */
    versionColumn?: string;
    /** The deduplicated change log beside the target (lsn, tx_id): tells a transaction that committed after the snapshot from a real difference. */
    changesTable?: string;
    /** Deleted flag (rows with a non-zero flag are not live). */
    deletedColumn?: string;
    /** Target column compared with a source column whose name differs (the catalog's numeric(p,s) -> its exact text, `<col>_text`). */
    columns?: Record<string, string>;
  };
  catchUp: CatchUpSpec;
  /** The table group whose source database holds the table (ASTROS_GROUP_DATABASES); default: the pipeline's database. */
  group?: string;
  /** Hash buckets (default 1024). */
  buckets?: number;
  /** Longest wait for ClickHouse to catch up (default 60 s). */
  maxWaitMs?: number;
  pollMs?: number;
  /** Buckets drilled into per pass (default 256); another pass only while every key found changed after the snapshot, else the rest are counted only. */
  maxDrillBuckets?: number;
  /** Keys named per kind of difference at most (default 20). */
  maxKeys?: number;
  /** max_parallel_workers_per_gather for the Postgres aggregate (default: the server's setting). */
  pgParallelWorkers?: number;
}

export interface CompareTableInput {
  /** What to compare; without it, the catalog's spec for `table`. */
  spec?: ValidationSpec;
  /** A captured table (`schema.table`) whose spec the catalog derives; default: the ingest's table. */
  table?: string;
  /** Idempotency key of the report (the workflow passes its workflow id / run id). */
  reportKey: string;
  /** One ClickHouse replica of the set (ch1, ch2, ...: config/clickhouse-replicas.ts); default: the worker's CLICKHOUSE_URL. */
  replica?: string;
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
  /** `database.table`, and ` on <replica>` when one replica of a set was named. */
  target: string;
  /** The ClickHouse replica compared, when one was named. */
  replica?: string;
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
