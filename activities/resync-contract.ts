/** What the resync activities (resync.ts) take and return: the types workflows/resync-table.ts and the benchmark use. */
import type { BlockRange } from '../catalog/resync-sql.ts';
import type { TableDeclarationInput } from '../catalog/declaration.ts';
import type { NameOptions } from '../shared/names.ts';
import type { ValidationSpec } from '../shared/validation.ts';

/** A table captured by another pipeline than the main one: what the live catalog would otherwise supply. */
export interface ResyncTarget {
  declaration: TableDeclarationInput;
  /** Its objects' names (ClickHouse database, topic prefix, consumer group prefix). */
  names: NameOptions;
  /** The replication slot of the connector that streams it (catch-up waits for it). */
  slot: string;
}

export interface ResyncPlan {
  source: string;
  /** With a target: what the closing validation compares (the live catalog has no entry to derive it from). */
  spec?: ValidationSpec;
  /** L = S0 - 1 as a decimal string: the version of every loaded row. */
  lsnFloor: string;
  /** Postgres' position once every transaction open at S0 had ended: the swap's catch-up reaches it. */
  catchUpLsn?: string;
  ranges: BlockRange[];
  estimatedRows: number;
  /** Transactions waited for before the first read. */
  waitedFor: number;
  /** Set when ClickHouse's copy does not have the table's shape now (resync-shape.ts): nothing was prepared. */
  shapeChanged?: string;
}

export interface RangeInput {
  source: string;
  target?: ResyncTarget;
  lsnFloor: string;
  range: BlockRange;
  ranges: number;
  /** Rows loaded by ranges finished before this one started, and the estimate: for progress. */
  rowsBefore: number;
  estimatedRows: number;
}

export interface SwapResult {
  streamedCopied: number;
  /** Loaded rows equal to the live row: they kept its version (no history, no new version). */
  keptRows: number;
  swapped: boolean;
  /** Set when the table's shape moved during the load (resync-shape.ts): nothing was swapped. */
  shapeChanged?: string;
}

export interface ResyncOutcome {
  loadedRows: number;
  /** History rows added: loaded rows that differed from the live copy, live keys the load did not find. */
  changedRows: number;
  deletedRows: number;
  lateCopied: number;
}
