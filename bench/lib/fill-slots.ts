/**
 * What a large fill of the load table does to replication slots, and how the
 * bench keeps it from costing one. A 10M-row fill with its vacuum writes
 * about 3 GB of WAL; Postgres invalidates a slot that retains more than
 * max_slot_wal_keep_size (2 GB on the dev stack), which would cost the
 * pipeline's own slot its place and the bench connector its slot.
 *
 * - The bench connector's slot would not move during the fill (nothing it
 *   publishes changes, so its connector confirms nothing): the bench, which
 *   owns it, stops that connector, resets its offsets and drops the slot
 *   before a fill; registering it again afterwards makes a new slot (its
 *   snapshot mode takes no data, and the fill is not streamed anyway).
 * - Every other slot is waited for after each chunk of the fill (a slot
 *   cannot pass a transaction still open, hence chunks): an active one
 *   advances with its connector's heartbeats; one that retains most of the
 *   limit and does not advance stops the fill with its name, before
 *   Postgres invalidates it.
 */
import type pg from 'pg';
import type { KafkaConnect } from '../../connectors/kafka-connect/client.ts';
import { dropInactiveSlot } from '../../connectors/postgres/slots.ts';

/** Rows per transaction of a fill: ~0.3 GB of WAL each, well below the limit. */
export const fillChunkRows = 500_000;

const waitMs = 120_000;

/** The bench connector stopped and removed, its offsets reset and its slot dropped. */
export async function releaseBenchSlot(pool: pg.Pool, connect: KafkaConnect, bench: { connector: string; slot: string }, log: (m: string) => void): Promise<void> {
  if (await connect.status(bench.connector).catch(() => undefined)) {
    log(`[connector] ${bench.connector}: stopped, offsets reset and removed while the load table is filled (registered again after it, on a new slot)`);
    await connect.stop(bench.connector);
    await until(`slot ${bench.slot} released by ${bench.connector}`, async () => !(await slots(pool)).some((s) => s.name === bench.slot && s.active));
    await connect.resetOffsets(bench.connector);
    await connect.remove(bench.connector);
  }
  await dropInactiveSlot(pool, bench.slot);
}

/** Waits until no slot of the database retains over half of max_slot_wal_keep_size; a slot that does not get there stops the fill. */
export async function waitForSlots(pool: pg.Pool): Promise<void> {
  const limit = await keepLimit(pool);
  if (limit === undefined) return;
  const over = async () => (await slots(pool)).filter((s) => s.retained !== null && s.retained > limit / 2);
  await until('slots retaining under half of max_slot_wal_keep_size', async () => (await over()).length === 0, async () => {
    const names = (await over()).map((s) => `${s.name} (${s.active ? 'active' : 'inactive'}, retains ${mib(s.retained!)} MiB)`).join(', ');
    return `stopping the fill before Postgres invalidates a slot: ${names} of max_slot_wal_keep_size ${mib(limit)} MiB did not advance in ${waitMs / 1000} s; start its consumer (npm run stack -- status) or drop the slot, then run the bench again`;
  });
}

interface Slot {
  name: string;
  active: boolean;
  /** bytes of WAL it holds back; null when it holds none (invalidated) */
  retained: number | null;
}

async function slots(pool: pg.Pool): Promise<Slot[]> {
  const { rows } = await pool.query<{ name: string; active: boolean; retained: string | null }>(
    `select slot_name as name, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text as retained
       from pg_replication_slots where database = current_database()`,
  );
  return rows.map((r) => ({ name: r.name, active: r.active, retained: r.retained === null ? null : Number(r.retained) }));
}

/** max_slot_wal_keep_size in bytes; undefined when unlimited (-1). */
async function keepLimit(pool: pg.Pool): Promise<number | undefined> {
  const { rows } = await pool.query<{ v: string; unit: string | null }>(`select setting as v, unit from pg_settings where name = 'max_slot_wal_keep_size'`);
  const v = Number(rows[0]?.v ?? -1);
  if (v < 0) return undefined;
  return v * (rows[0]?.unit === 'MB' ? 2 ** 20 : 1);
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);

async function until(what: string, ok: () => Promise<boolean>, why: () => Promise<string> = async () => `${what}: not after ${waitMs / 1000} s`): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(await why());
    await new Promise((r) => setTimeout(r, 500));
  }
}
