/**
 * The fault suite's writer: one transaction after another, each a change
 * with a unique id, to a captured test table and (every few transactions) to
 * public.astronauts under the test's own key prefix. A transaction cut off
 * by a Postgres crash is in doubt: the writer waits for Postgres, reads its
 * fate back from the row it wrote and only then goes on, so its record of
 * committed changes is exact. Not from pg_xact_status: a transaction whose
 * WAL never reached disk leaves its xid unused after crash recovery, the next
 * transaction (Debezium's heartbeat) is given the same xid, and
 * pg_xact_status then reports that one's commit.
 *
 * Every change of the test table is identified in ClickHouse by (change_id,
 * op): an insert is ('c'), an update ('u'); a delete first stamps its id on
 * the row, so it is ('u') and ('d') of the same id.
 */
import crypto from 'node:crypto';
import type pg from 'pg';

export type Op = 'c' | 'u' | 'd';

export interface Change {
  id: number;
  key: string;
  op: Op;
  /** The astronaut change made in the same transaction, if any. */
  astronaut?: { key: string; op: Op; craft?: string };
}

export interface ExpectedVersion {
  person_key: string;
  version_number: number;
  stint_number: number;
  craft: string;
  is_current: boolean;
  change_op: string;
  closed_by_op: string | null;
  updated_by_run: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A checked-out client whose server dies between two queries emits 'error'; the next query fails and is handled. */
const ignore = (): void => undefined;
const crafts = ['ISS', 'Tiangong', 'Shenzhou'];

export class FaultWriter {
  /** Committed changes, in commit order. */
  readonly committed: Change[] = [];
  inDoubt = 0;
  private nextId = 1;
  private running = false;
  private held?: { reached: () => void; released: Promise<void> };
  private done: Promise<void> = Promise.resolve();
  private readonly live = new Set<string>();
  private readonly aboard = new Map<string, string>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly source: string,
    private readonly prefix: string,
    private readonly opts: { keys: number; astronautEvery: number; pauseMs: number },
  ) {}

  start(): void {
    this.running = true;
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  /**
   * Stop the next transaction after its writes, before its COMMIT; resolves, once it waits there, with the function
   * that lets it go on. A crash meanwhile leaves it in doubt every time, instead of by the luck of the kill's timing.
   */
  async holdBeforeCommit(): Promise<() => void> {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    await new Promise<void>((reached) => (this.held = { reached, released }));
    return release;
  }

  /** The highest id committed so far. */
  get lastId(): number {
    return this.committed.at(-1)?.id ?? 0;
  }

  /** Changes ClickHouse must show for the test table: (id, op) pairs. */
  static events(c: Change): string[] {
    return c.op === 'd' ? [`${c.id}:u`, `${c.id}:d`] : [`${c.id}:${c.op}`];
  }

  private plan(id: number): Change {
    const key = `${this.prefix}${crypto.randomInt(this.opts.keys)}`;
    const op: Op = !this.live.has(key) ? 'c' : crypto.randomInt(5) === 0 ? 'd' : 'u';
    const change: Change = { id, key, op };
    if (id % this.opts.astronautEvery === 0) {
      const person = `${this.prefix}p${crypto.randomInt(6)}`;
      const craft = crafts[crypto.randomInt(crafts.length)]!;
      change.astronaut = !this.aboard.has(person) ? { key: person, op: 'c', craft } : crypto.randomInt(4) === 0 ? { key: person, op: 'd' } : { key: person, op: 'u', craft };
    }
    return change;
  }

  private async apply(client: pg.PoolClient, c: Change): Promise<void> {
    const t = this.source;
    if (c.op === 'c') await client.query(`insert into ${t} (id, change_id, writes) values ($1, $2, 1)`, [c.key, c.id]);
    else await client.query(`update ${t} set change_id = $2, writes = writes + 1 where id = $1`, [c.key, c.id]);
    if (c.op === 'd') await client.query(`delete from ${t} where id = $1`, [c.key]);
    const a = c.astronaut;
    if (!a) return;
    const run = `${this.prefix}${c.id}`;
    if (a.op === 'c') await client.query(`insert into public.astronauts (person_key, name, craft, updated_by_run) values ($1, $1, $2, $3)`, [a.key, a.craft, run]);
    else if (a.op === 'u') await client.query(`update public.astronauts set craft = $2, updated_at = now(), updated_by_run = $3 where person_key = $1`, [a.key, a.craft, run]);
    else await client.query(`delete from public.astronauts where person_key = $1`, [a.key]);
  }

  private record(c: Change): void {
    this.committed.push(c);
    if (c.op === 'd') this.live.delete(c.key);
    else this.live.add(c.key);
    if (c.astronaut?.op === 'd') this.aboard.delete(c.astronaut.key);
    else if (c.astronaut) this.aboard.set(c.astronaut.key, c.astronaut.craft!);
  }

  /**
   * Whether `c` committed, once Postgres answers again. Nothing else writes the table and the writer waits here, so
   * the row shows it: an insert or update committed iff the key's row carries this change's id, a delete iff the
   * key's row is gone (it was live before). The astronaut change shares the transaction.
   */
  private async committedAfterCrash(c: Change): Promise<boolean> {
    for (;;) {
      try {
        const { rows } = await this.pool.query<{ change_id: string }>(`select change_id::text from ${this.source} where id = $1`, [c.key]);
        return c.op === 'd' ? rows.length === 0 : rows[0]?.change_id === String(c.id);
      } catch {
        /* Postgres still down or recovering */
      }
      await sleep(250);
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const c = this.plan(this.nextId++);
      let begun = false;
      let client: pg.PoolClient | undefined;
      try {
        client = await this.pool.connect();
        client.removeListener('error', ignore).on('error', ignore);
        await client.query('begin');
        begun = true;
        await this.apply(client, c);
        const h = this.held;
        this.held = undefined;
        h?.reached();
        await h?.released;
        await client.query('commit');
        client.release();
        this.record(c);
      } catch (err) {
        client?.release(err as Error);
        if (begun) {
          this.inDoubt++;
          if (await this.committedAfterCrash(c)) this.record(c);
        } else await sleep(250);
      }
      await sleep(this.opts.pauseMs);
    }
  }

  /** The SCD2 rows the astronaut changes must give, per person in commit order. */
  expectedScd2(): ExpectedVersion[] {
    const byPerson = new Map<string, { op: Op; craft?: string; run: string }[]>();
    for (const c of this.committed) {
      if (!c.astronaut) continue;
      byPerson.set(c.astronaut.key, [...(byPerson.get(c.astronaut.key) ?? []), { op: c.astronaut.op, craft: c.astronaut.craft, run: `${this.prefix}${c.id}` }]);
    }
    const out: ExpectedVersion[] = [];
    for (const [person, events] of [...byPerson].sort(([a], [b]) => (a < b ? -1 : 1))) {
      let version = 0;
      let stint = 0;
      events.forEach((e, i) => {
        if (e.op === 'd') return;
        version++;
        if (i === 0 || events[i - 1]!.op === 'd') stint++;
        const next = events[i + 1];
        out.push({
          person_key: person,
          version_number: version,
          stint_number: stint,
          craft: e.craft!,
          is_current: next === undefined,
          change_op: e.op,
          closed_by_op: next?.op ?? null,
          updated_by_run: e.run,
        });
      });
    }
    return out;
  }
}
