/**
 * Is the connector's replication slot usable? Postgres invalidates a slot
 * whose consumer fell further behind than max_slot_wal_keep_size (wal_status
 * 'lost'): the WAL it needed is gone, Debezium fails, and only a recovery
 * (a new slot, the connector's offsets reset, the gap recorded, every table
 * resynced) brings the pipeline back. A slot that does not exist (dropped,
 * or the source failed over to a standby: Postgres 15 keeps logical slots on
 * the primary only) is the same failure. One wording of that, for the lag
 * report, validation, the monitor, `tables list` and the recover command.
 */
import type pg from 'pg';

export const RECOVER_COMMAND = 'npm run recover';

export interface SlotState {
  slot: string;
  found: boolean;
  /** pg_replication_slots.wal_status: reserved, extended, unreserved (at risk), lost. */
  walStatus: string | null;
  active: boolean | null;
}

/** One line naming the problem and the fix, or undefined when the slot is usable. */
export function slotProblem(s: SlotState): string | undefined {
  if (!s.found) {
    return `replication slot ${s.slot} does not exist: it was dropped, or the source failed over to a standby (Postgres 15 does not carry logical slots to it); changes made since are not in the stream; run ${RECOVER_COMMAND} (new slot, capture gap recorded, every table resynced)`;
  }
  if (s.walStatus === 'lost') {
    return `replication slot ${s.slot} is lost: Postgres removed WAL it still needed (its consumer was behind by more than max_slot_wal_keep_size); run ${RECOVER_COMMAND} (new slot, capture gap recorded, every table resynced)`;
  }
  return undefined;
}

/** A warning while the slot can still be saved (the consumer must catch up). */
export function slotWarning(s: SlotState): string | undefined {
  if (s.found && s.walStatus === 'unreserved') return `replication slot ${s.slot} retains more WAL than max_slot_wal_keep_size: Postgres invalidates it at the next checkpoint unless its consumer catches up`;
  return undefined;
}

export async function slotState(db: pg.Pool | pg.Client, slot: string): Promise<SlotState> {
  const { rows } = await db.query<{ wal_status: string | null; active: boolean }>('select wal_status, active from pg_replication_slots where slot_name = $1', [slot]);
  const r = rows[0];
  return { slot, found: r !== undefined, walStatus: r?.wal_status ?? null, active: r?.active ?? null };
}
