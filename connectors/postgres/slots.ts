/**
 * Is the connector's replication slot usable? Postgres invalidates a slot
 * whose consumer fell further behind than max_slot_wal_keep_size (wal_status
 * 'lost'): the WAL it needed is gone, Debezium fails, and only a recovery
 * (a new slot, the connector's offsets reset, the gap recorded, every table
 * resynced) brings the pipeline back. A slot that does not exist (dropped,
 * or the source failed over to a standby: Postgres 15 keeps logical slots on
 * the primary only) is the same failure. One wording of that, for the lag
 * report, validation, the monitor, `tables list` and the recover command;
 * and the slot operations a recovery needs.
 */
import { lsnToBigInt } from '../../shared/lsn.ts';
import type { Queryable } from './pool.ts';

export const RECOVER_COMMAND = 'npm run recover';

export interface SlotState {
  slot: string;
  found: boolean;
  /** pg_replication_slots.wal_status: reserved, extended, unreserved (at risk), lost. */
  walStatus: string | null;
  active: boolean | null;
  /** The position the slot's consumer confirmed (pg_lsn text), when it has one. */
  confirmedFlushLsn?: string | null;
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

export async function slotState(db: Queryable, slot: string): Promise<SlotState> {
  const { rows } = await db.query<{ wal_status: string | null; active: boolean; confirmed: string | null }>(
    'select wal_status, active, confirmed_flush_lsn::text as confirmed from pg_replication_slots where slot_name = $1',
    [slot],
  );
  const r = rows[0];
  return { slot, found: r !== undefined, walStatus: r?.wal_status ?? null, active: r?.active ?? null, confirmedFlushLsn: r?.confirmed ?? null };
}

/** Where the slot stands against the server's WAL (for the lag report). */
export interface SlotPosition {
  currentLsn: string;
  slot: string;
  slotFound: boolean;
  active: boolean | null;
  confirmedFlushLsn: string | null;
  /** current - confirmed_flush: WAL written that the connector has not confirmed. */
  flushLagBytes: number | null;
  /** current - restart_lsn: WAL Postgres keeps on disk for this slot. */
  retainedWalBytes: number | null;
  walStatus: string | null;
}

export async function slotPosition(db: Queryable, slot: string): Promise<SlotPosition> {
  const { rows } = await db.query<{ current: string; active: boolean | null; confirmed: string | null; flush_lag: string | null; retained: string | null; wal_status: string | null }>(
    `select pg_current_wal_lsn()::text as current, s.active, s.confirmed_flush_lsn::text as confirmed,
            pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint::text as flush_lag,
            pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint::text as retained,
            s.wal_status
       from (select 1) one left join pg_replication_slots s on s.slot_name = $1`,
    [slot],
  );
  const r = rows[0]!;
  return {
    currentLsn: r.current,
    slot,
    slotFound: r.confirmed !== null || r.active !== null,
    active: r.active,
    confirmedFlushLsn: r.confirmed,
    flushLagBytes: r.flush_lag === null ? null : Number(r.flush_lag),
    retainedWalBytes: r.retained === null ? null : Number(r.retained),
    walStatus: r.wal_status,
  };
}

/** The server's WAL insert position now, and its clock. */
export async function walInsertPosition(db: Queryable): Promise<{ lsn: bigint; at: Date }> {
  const { rows } = await db.query<{ lsn: string; at: Date }>('select pg_current_wal_insert_lsn()::text as lsn, now() as at');
  return { lsn: lsnToBigInt(rows[0]!.lsn), at: rows[0]!.at };
}

/**
 * A function the stack's superuser setup installs (db/init/20_grants.sql) is missing or refused:
 * the message names the fix.
 */
export class SlotFunctionMissing extends Error {
  override name = 'SlotFunctionMissing';
}

const superuserFunction = (fn: string, err: unknown) =>
  new SlotFunctionMissing(`cannot call public.${fn} (${(err as Error).message}): the stack's superuser setup installs it (db/init/20_grants.sql; npm run stack -- up)`, { cause: err });

/** Drop the slot if no walsender holds it; true when it was dropped. */
export async function dropInactiveSlot(db: Queryable, slot: string): Promise<boolean> {
  const { rows } = await db.query<{ dropped: boolean }>('select public.astros_drop_inactive_slot($1) as dropped', [slot]).catch((err: unknown) => {
    throw new SlotFunctionMissing(
      `cannot drop slot ${slot} (${(err as Error).message}): the stack's superuser setup installs public.astros_drop_inactive_slot (npm run stack -- up); or, as a superuser, run select pg_drop_replication_slot('${slot}')`,
      { cause: err },
    );
  });
  return rows[0]?.dropped === true;
}

/** A new logical slot (pgoutput); its consistent point and when it was made. */
export async function createLogicalSlot(db: Queryable, slot: string): Promise<{ lsn: bigint; at: Date }> {
  const { rows } = await db.query<{ lsn: string; at: Date }>('select public.astros_create_logical_slot($1)::text as lsn, now() as at', [slot]).catch((err: unknown) => {
    throw superuserFunction('astros_create_logical_slot', err);
  });
  return { lsn: lsnToBigInt(rows[0]!.lsn), at: rows[0]!.at };
}

/** Move the server's WAL position past `lsn` (a small record and a segment switch per 16 MB). */
export async function advanceWalPast(db: Queryable, lsn: string): Promise<void> {
  await db.query('select public.astros_advance_wal($1::text::pg_lsn)', [lsn]).catch((err: unknown) => {
    throw superuserFunction('astros_advance_wal', err);
  });
}
