/**
 * The embedded ClickHouse engine: chDB bound to one data directory for the
 * lifetime of the process.
 *
 * Facts this relies on (checked against chdb 3.4.0 / libchdb 26.7):
 * - Every `new Session(sameDir)` is its own native connection on the one
 *   process-wide engine: its own settings, current database and temporary
 *   tables. Opening one costs ~1 ms once the engine is up.
 * - Queries on ONE connection run one after another; queries on different
 *   connections run in parallel (each `queryAsync` runs on a libuv worker, so
 *   `UV_THREADPOOL_SIZE` bounds how many run at once).
 * - `connectionArgs` apply per connection, so every connection gets the
 *   server defaults the HTTP clients expect (chDB's differ).
 * - The JS `Session.insert()` whitelists text formats; the addon's
 *   `InsertRawAsyncConnection(conn, prefix, bytes)` takes any `INSERT ...
 *   FORMAT X` prefix and a binary payload (Native, RowBinary...), zero-copy.
 */
import { createRequire } from 'node:module';
import { Session, drainPending } from 'chdb';
import { consumerEngineArgs } from '../../catalog/consumer-settings.ts';

/**
 * ClickHouse server defaults that chDB changes. The JS client expects 64-bit
 * integers quoted in JSON (a server's default); a server does not insert
 * asynchronously unless asked. An INSERT whose body is empty inserts nothing
 * over a server's HTTP interface (`throw_if_no_data_to_insert` is read only by
 * clickhouse-client and gRPC); chDB runs inserts the client's way and would
 * fail with NO_DATA_TO_INSERT (a streamed insert of an empty table's rows).
 */
export const serverDefaultArgs: readonly string[] = ['--output_format_json_quote_64bit_integers=1', '--async_insert=0', '--throw_if_no_data_to_insert=0'];

interface RawInsertResult {
  elapsed: number;
  rowsWritten: number;
  bytesWritten: number;
}

interface NativeAddon {
  InsertRawAsyncConnection(connection: unknown, prefix: string, data: Buffer, countLines: boolean): Promise<RawInsertResult>;
}

export interface QueryOutcome {
  body: Buffer;
  readRows: number;
  readBytes: number;
  writtenRows: number;
  writtenBytes: number;
  elapsedSeconds: number;
}

function loadAddon(): NativeAddon {
  // The same module instance chdb's loader required (Node caches by file), so
  // connection handles from Session are valid here.
  const require = createRequire(import.meta.url);
  const addon = require('@chdb/lib-linux-x64-gnu') as Partial<NativeAddon>;
  if (typeof addon.InsertRawAsyncConnection !== 'function') {
    throw new Error('the installed @chdb/lib-linux-x64-gnu has no InsertRawAsyncConnection; install the version pinned in package.json');
  }
  return addon as NativeAddon;
}

export class Engine {
  readonly dataDir: string;
  /** Held for the process lifetime: keeps the engine (and its Kafka consumers, merges) running. */
  private readonly root: Session;
  private readonly addon: NativeAddon;
  version = 'unknown';
  timezone = 'UTC';

  private constructor(dataDir: string, root: Session, addon: NativeAddon) {
    this.dataDir = dataDir;
    this.root = root;
    this.addon = addon;
  }

  /**
   * `backupsDir`: where BACKUP ... TO File(...) may write (the server's backups.allowed_path).
   * `engineLog`: the engine's own log file (chDB writes none unless told), where the Kafka
   * engine reports rebalances, stalled consumers and failed inserts into its views.
   * `clusterKafka`: the Kafka consumers get the cluster profile's client settings too (catalog/consumer-settings.ts).
   */
  static async open(dataDir: string, opts: { backupsDir?: string; engineLog?: string; clusterKafka?: boolean } = {}): Promise<Engine> {
    const addon = loadAddon();
    // Server configuration takes effect when the engine starts: the first connection carries it.
    const backups = opts.backupsDir ? [`--backups.allowed_path=${opts.backupsDir}`] : [];
    // chDB takes the level as `--log-level` (it ignores `logger.level`); warnings are what a reader needs.
    const logging = opts.engineLog ? [`--logger.log=${opts.engineLog}`, '--log-level=warning', '--logger.size=50M', '--logger.count=2'] : [];
    const root = new Session(dataDir, { connectionArgs: [...serverDefaultArgs, ...consumerEngineArgs(opts.clusterKafka), ...backups, ...logging] });
    const engine = new Engine(dataDir, root, addon);
    const info = (await root.queryAsync('SELECT version(), timezone()', { format: 'TabSeparated' })).text().trim().split('\t');
    engine.version = info[0] ?? 'unknown';
    engine.timezone = info[1] ?? 'UTC';
    return engine;
  }

  /** A fresh connection with server defaults; close it when done. */
  connect(): Session {
    return new Session(this.dataDir, { connectionArgs: serverDefaultArgs });
  }

  async query(conn: Session, sql: string, format: string): Promise<QueryOutcome> {
    const result = await conn.queryAsync(sql, { format });
    const bytes = result.bytes();
    return {
      body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      readRows: result.rowsRead,
      readBytes: result.bytesRead,
      writtenRows: 0,
      writtenBytes: 0,
      elapsedSeconds: result.elapsed,
    };
  }

  /** `prefix` is the INSERT statement up to and including `FORMAT X` (or `VALUES`); `data` the payload. */
  async insert(conn: Session, prefix: string, data: Buffer): Promise<QueryOutcome> {
    if (conn.connection == null) throw new Error('connection is closed');
    const result = await this.addon.InsertRawAsyncConnection(conn.connection, prefix, data, false);
    return {
      body: Buffer.alloc(0),
      readRows: 0,
      readBytes: data.length,
      writtenRows: result.rowsWritten,
      writtenBytes: result.bytesWritten,
      elapsedSeconds: result.elapsed,
    };
  }

  /** Close the engine so parts and Kafka offsets are flushed; waits for running queries. */
  async close(): Promise<void> {
    this.root.close();
    await drainPending();
  }
}
