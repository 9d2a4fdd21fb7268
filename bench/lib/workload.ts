/**
 * The workload every contender gets: N row changes committed as fast as
 * possible into one table, in cycles of  insert B rows -> update 60 % of them
 * -> delete the other 40 %  (50 % inserts, 30 % updates, 20 % deletes).
 *
 * - batched: each statement is one transaction of B (or 0.6 B / 0.4 B) rows,
 *   generated server-side (generate_series), one connection;
 * - single: every change is its own 1-row transaction, `concurrency`
 *   connections each working through its own id range.
 *
 * After the run the table holds 0.6 x inserted rows, each with v = 1: that is
 * what "all changes visible" means for a target that only shows current state.
 */
import pg from 'pg';

export type TxMode = 'batched' | 'single';

export interface WorkloadSpec {
  table: string;
  changes: number;
  mode: TxMode;
  /** rows inserted per cycle (batched: rows per insert transaction) */
  cycleRows: number;
  concurrency: number;
  /** first id to use (ids are never reused within a run) */
  firstId?: number;
}

export interface CommitMark {
  /** epoch ms when COMMIT returned */
  t: number;
  /** changes committed so far */
  total: number;
}

export interface WorkloadResult {
  changes: number;
  inserted: number;
  expectedLive: number;
  startMs: number;
  endMs: number;
  commits: CommitMark[];
  /** pg_current_wal_lsn() after the last commit */
  endLsn: string;
}

export function plan(spec: WorkloadSpec): { cycles: number; upd: number; del: number } {
  const upd = Math.round(spec.cycleRows * 0.6);
  const del = spec.cycleRows - upd;
  const cycles = Math.max(1, Math.round(spec.changes / (2 * spec.cycleRows)));
  return { cycles, upd, del };
}

export async function runWorkload(pgUrl: string, spec: WorkloadSpec, progress?: (committed: number) => void): Promise<WorkloadResult> {
  const { cycles, upd, del } = plan(spec);
  const B = spec.cycleRows;
  const first = spec.firstId ?? 1;
  const commits: CommitMark[] = [];
  let total = 0;
  const mark = (n: number) => {
    total += n;
    commits.push({ t: Date.now(), total });
    progress?.(total);
  };
  const conns = spec.mode === 'batched' ? 1 : Math.max(1, spec.concurrency);
  const clients = await Promise.all(
    Array.from({ length: conns }, async () => {
      const c = new pg.Client({ connectionString: pgUrl, application_name: 'astros-bench-workload' });
      await c.connect();
      return c;
    }),
  );
  const t = spec.table;
  const startMs = Date.now();
  try {
    if (spec.mode === 'batched') {
      const c = clients[0]!;
      for (let k = 0; k < cycles; k++) {
        const a = first + k * B;
        await c.query(`insert into ${t} (id, v, payload) select g, 0, repeat(md5(g::text), 2) from generate_series($1::bigint, $2::bigint) g`, [a, a + B - 1]);
        mark(B);
        await c.query(`update ${t} set v = v + 1, updated_at = now() where id between $1 and $2`, [a, a + upd - 1]);
        mark(upd);
        await c.query(`delete from ${t} where id between $1 and $2`, [a + upd, a + B - 1]);
        mark(del);
      }
    } else {
      // Each connection takes every conns-th cycle; statements run in autocommit (one transaction each).
      await Promise.all(
        clients.map(async (c, ci) => {
          for (let k = ci; k < cycles; k += conns) {
            const a = first + k * B;
            for (let i = 0; i < B; i++) {
              await c.query({ name: 'ins', text: `insert into ${t} (id, v, payload) values ($1, 0, repeat(md5($2), 2))`, values: [a + i, String(a + i)] });
              mark(1);
            }
            for (let i = 0; i < upd; i++) {
              await c.query({ name: 'upd', text: `update ${t} set v = v + 1, updated_at = now() where id = $1`, values: [a + i] });
              mark(1);
            }
            for (let i = upd; i < B; i++) {
              await c.query({ name: 'del', text: `delete from ${t} where id = $1`, values: [a + i] });
              mark(1);
            }
          }
        }),
      );
    }
    const endMs = Date.now();
    const lsn = await clients[0]!.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    return { changes: total, inserted: cycles * B, expectedLive: cycles * upd, startMs, endMs, commits, endLsn: lsn.rows[0]!.lsn };
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}
