/**
 * The shapes of a captured table's ClickHouse objects, as data
 * (clickhouse-objects.ts derives them, cluster-shape.ts places them on a
 * cluster, clickhouse-create.ts writes their SQL).
 */
import type { MappedColumn } from './column-types.ts';
import type { TableNames } from '../shared/names.ts';
import type { Retention } from './retention.ts';

/** Created ON CLUSTER this cluster (catalog/cluster-shape.ts); absent on a single host. */
interface Placed {
  cluster?: string;
}

export interface ColumnDef {
  name: string;
  type: string;
  default?: string;
  comment?: string;
}

export interface StorageObject extends Placed {
  kind: 'storage';
  name: string;
  columns: ColumnDef[];
  engine: string;
  orderBy: string[];
  /** TTL expression (rows expire), absent to keep every row. */
  ttl?: string;
}

export interface QueueObject extends Placed {
  kind: 'queue';
  name: string;
  columns: ColumnDef[];
  settings: [string, string | number][];
}

export interface ViewObject extends Placed {
  kind: 'view';
  name: string;
  to: string;
  select: string;
}

export type ClickHouseObject = StorageObject | QueueObject | ViewObject;

export interface TableObjects {
  names: TableNames;
  key: string[];
  columns: MappedColumn[];
  changelog: StorageObject;
  changes: StorageObject;
  current: StorageObject;
  /** changelog -> changes: a view of a table, not of the queue. */
  changesView: ViewObject;
  queue: QueueObject;
  /** The queue's views, in creation order; the queue starts consuming once the first exists. */
  views: ViewObject[];
  /** This table's retention (its declaration's overrides applied). */
  retention: Retention;
  /** Partitions of its topic (its declaration's, else the pipeline's); the queue has one consumer per partition. */
  partitions: number;
  /** The shared error stream this table's errors view writes to (a numbered migration creates it), and its TTL. */
  errors: { name: string; ttl?: string };
  /** A resync's objects (resync.ts creates them for one load and drops them after). */
  resync: ResyncObjects;
  /** On a cluster: the data tables above are each host's, these read them all under today's names (cluster-shape.ts). */
  distributed?: StorageObject[];
  cluster?: string;
}

/**
 * A bulk load writes rows shaped like the queue's (Debezium's wire values)
 * into a Null table whose view applies the current-state view's own
 * expressions and writes the shadow copy of the current state.
 */
export interface ResyncObjects {
  input: StorageObject;
  shadow: StorageObject;
  view: ViewObject;
  /** Data columns of `input` that a load supplies, in order (the Debezium fields come after them). */
  loadColumns: string[];
}
