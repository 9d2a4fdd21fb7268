/**
 * Where backups are kept: a directory or an S3-compatible bucket, behind one
 * interface. Keys are relative paths (`<backup>/manifest.json`). The same
 * location is named to ClickHouse (`File(...)` / `S3(...)`), which writes its
 * own backup there; the worker reads and writes everything beside it.
 * openStore (open.ts) picks the implementation for a target.
 */

export interface StoredObject {
  key: string;
  size: number;
}

export interface ObjectStore {
  /** Where it is, for people: a directory or s3://bucket/prefix (never a credential). */
  readonly location: string;
  put(key: string, body: string | Buffer): Promise<void>;
  /** Upload a local file (streamed). */
  putFile(key: string, file: string): Promise<void>;
  /** The object's bytes; undefined when there is none. */
  get(key: string): Promise<Buffer | undefined>;
  /** Download to a local file (streamed). */
  getToFile(key: string, file: string): Promise<void>;
  /** Every object under `prefix` (recursively), keys relative to the store. */
  list(prefix: string): Promise<StoredObject[]>;
  /** The names of the folders directly under `prefix` (`''`: the top). */
  folders(prefix: string): Promise<string[]>;
  /** Delete every object under `prefix`; returns how many. */
  remove(prefix: string): Promise<number>;
  /** ClickHouse's backup destination for `key`: File('…') or S3('…', key id, secret). */
  clickhouseDestination(key: string): string;
}

/** A ClickHouse string literal. */
export const sqlString = (s: string): string => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
