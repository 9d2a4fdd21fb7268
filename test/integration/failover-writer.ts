/**
 * The failover test's writer: inserts one row per transaction (id = its
 * sequence number) into a captured table, on whichever of its servers takes
 * writes (not in recovery), as an application behind a failover-aware driver
 * does. Before each insert it reads the WAL insert position, a lower bound of
 * the change's LSN, so the test can tell which commits came after the
 * recovery point. A transaction cut off by the failover is in doubt and left
 * out of the record (it happened before the recovery, which reloads it).
 */
import pg from 'pg';
import { lsnToBigInt } from '../../shared/lsn.ts';

export interface Commit {
  id: number;
  /** pg_current_wal_insert_lsn() before the insert: the change's LSN is above it. */
  lsnBefore: bigint;
  /** The server that took it (its URL's port). */
  port: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class FollowingWriter {
  readonly commits: Commit[] = [];
  inDoubt = 0;
  private next = 1;
  private stopped = false;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly table: string,
    private readonly urls: string[],
  ) {}

  start(): void {
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** Resolves once `n` more commits are recorded. */
  async more(n: number, timeoutMs = 120_000): Promise<void> {
    const want = this.commits.length + n;
    const deadline = Date.now() + timeoutMs;
    while (this.commits.length < want) {
      if (Date.now() > deadline) throw new Error(`the writer committed ${this.commits.length} of ${want} in ${timeoutMs} ms (in doubt: ${this.inDoubt})`);
      await sleep(100);
    }
  }

  private async primary(): Promise<{ client: pg.Client; port: string } | undefined> {
    for (const url of this.urls) {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const { rows } = await client.query<{ r: boolean }>('select pg_is_in_recovery() as r');
        if (!rows[0]?.r) return { client, port: new URL(url).port };
      } catch {
        // down, or not taking writes yet
      }
      await client.end().catch(() => undefined);
    }
    return undefined;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const p = await this.primary();
      if (!p) {
        await sleep(200);
        continue;
      }
      try {
        while (!this.stopped) {
          const id = this.next;
          const { rows } = await p.client.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
          try {
            await p.client.query(`insert into ${this.table} (id, v) values ($1, $2)`, [id, `w${id}`]);
          } catch (err) {
            this.inDoubt++;
            this.next++;
            throw err;
          }
          this.commits.push({ id, lsnBefore: lsnToBigInt(rows[0]!.lsn), port: p.port });
          this.next++;
          await sleep(20);
        }
      } catch {
        // the server went away: find the one that takes writes now
      } finally {
        await p.client.end().catch(() => undefined);
      }
    }
  }
}
