/**
 * Recovery from a lost or missing replication slot (workflows/recover-pipeline.ts):
 * the connector stopped, the dead slot dropped, its offsets forgotten, a new
 * slot made, the capture gap recorded, then resumed: Debezium streams from the
 * new slot (no snapshot: the tables are resynced after, straight from
 * Postgres). Every step is idempotent.
 *
 * The gap (connectors/clickhouse/capture-gaps.ts) runs from the last position the
 * pipeline had captured (the connector's committed offset, the old slot's
 * confirmed position, the newest change ClickHouse holds: the highest) to
 * the new slot's consistent point. After a failover the new primary's WAL
 * position can lie below changes captured from the old primary (WAL the
 * standby never received): versions are LSNs, so the position is first
 * moved past them, or those stale rows would win over every newer change.
 */
import { catalogEntries, isCaptured } from '../catalog/store.ts';
import type { Queryable } from '../catalog/db.ts';
import { chRows } from '../connectors/clickhouse/client.ts';
import { readGaps, recordGaps, type CaptureGap } from '../connectors/clickhouse/capture-gaps.ts';
import { advanceWalPast, createLogicalSlot, dropInactiveSlot, SlotFunctionMissing, slotState, walInsertPosition } from '../connectors/postgres/slots.ts';
import { groupSource } from '../connectors/postgres/sources.ts';
import { IngestErrorType, permanentFailure } from '../shared/errors.ts';
import { formatLsn, lsnToBigInt } from '../shared/lsn.ts';
import { DEFAULT_GROUP, groupOfSlot, pipelineNames, tableNames } from '../shared/names.ts';
import { groupOf } from '../catalog/declaration.ts';
import type { ActivityDeps } from './deps.ts';
import { cancelled, heartbeat } from './heartbeat.ts';

export type RecoverDeps = Pick<ActivityDeps, 'pool' | 'clickhouse' | 'connect' | 'endpoints'>;

export interface ResetResult {
  slot: string;
  /** What the slot was before: lost, missing, or usable (then nothing was reset). */
  before: string;
  droppedSlot: boolean;
  /** What the new slot does not cover (recorded in capture_gaps for each table); absent when the slot was usable. */
  gap?: { reason: CaptureGap['reason']; fromLsn: string; fromTime: string | null; toLsn: string; toTime: string; tables: string[]; advancedWal: boolean };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The highest LSN among Debezium's offset fields (decimal strings or numbers). */
/** Debezium's refusal of a slot that cannot give the changes since the connector's offset. */
const OFFSET_REFUSED = /no longer available on the server/;

function offsetPosition(offsets: Record<string, unknown>[]): { lsn: bigint; time: string | null } {
  let lsn = 0n;
  let usec: number | undefined;
  for (const o of offsets) {
    for (const k of ['lsn', 'lsn_proc', 'lsn_commit']) {
      const v = o[k];
      if ((typeof v === 'number' || typeof v === 'string') && BigInt(v) > lsn) lsn = BigInt(v);
    }
    if (typeof o.ts_usec === 'number') usec = Math.max(usec ?? 0, o.ts_usec);
  }
  return { lsn, time: usec === undefined ? null : new Date(usec / 1000).toISOString() };
}

export function createRecoverActivities(deps: RecoverDeps) {
  const { clickhouse: ch, connect, endpoints: env } = deps;
  /** A slot function the stack's superuser setup installs is missing: nothing retrying can fix. */
  const asPermanent = (err: unknown): never => {
    if (err instanceof SlotFunctionMissing) throw permanentFailure(IngestErrorType.InvalidInput, `${err.message}; then recover again`);
    throw err;
  };

  /** The newest version ClickHouse holds for these tables (change logs and current states); 0 when none. */
  async function newestCaptured(tables: string[]): Promise<bigint> {
    let newest = 0n;
    for (const source of tables) {
      const n = tableNames(source, { groupPrefix: env.groupPrefix });
      const rows = await chRows<{ v: string }>(ch, `SELECT toString(greatest((SELECT max(lsn) FROM ${n.changes}), (SELECT max(version) FROM ${n.current}))) AS v`).catch(
        () => [], // a table without ClickHouse objects has nothing captured
      );
      const v = rows[0]?.v;
      if (v && BigInt(v) > newest) newest = BigInt(v);
    }
    return newest;
  }

  async function waitForState(what: string, done: () => Promise<boolean>, maxTries = 120): Promise<void> {
    for (let i = 0; !(await done()); i++) {
      if (i > maxTries) throw new Error(`${what}: still not so after ${maxTries / 2} s`);
      if (cancelled()) throw new Error('cancelled');
      heartbeat({ step: what });
      await sleep(500);
    }
  }

  async function stopConnector(connector: string): Promise<void> {
    await connect.stop(connector);
    await waitForState(`connector ${connector} stopping`, async () => (await connect.connectorState(connector)) === 'STOPPED');
  }

  /**
   * Resume and wait until the task streams from the new slot (the slot active: a task reports RUNNING before
   * it has read its offsets). A task Connect could not stop gracefully (asleep in Debezium's restart backoff,
   * its source gone) ends later and commits its old offset over the reset; the new task then refuses the new
   * slot ("no longer available on the server"). That old task has ended by then, so the offsets are reset
   * again and the connector resumed, at most three times.
   */
  async function resumeOnNewSlot(connector: string, db: Queryable, slot: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await connect.resume(connector);
      let refused = false;
      await waitForState(`connector ${connector} streaming from slot ${slot}`, async () => {
        const [s, c] = await Promise.all([slotState(db, slot), connect.state(connector).catch(() => undefined)]);
        if (c?.failure) {
          if (attempt < 3 && OFFSET_REFUSED.test(c.failure)) return (refused = true);
          throw new Error(`connector ${connector} failed after the reset: ${c.failure}`);
        }
        return s.found && s.walStatus !== 'lost' && s.active === true && c?.running === true;
      });
      if (!refused) return;
      heartbeat({ step: `connector ${connector} started from an offset committed after the reset (its old task ended late): resetting its offsets again` });
      await stopConnector(connector);
      await connect.resetOffsets(connector);
    }
  }

  return {
    /**
     * Stop the connector, drop its slot if it is dead, reset its offsets, make the new slot,
     * record the gap, resume; returns once it streams from the new slot. A usable slot is kept
     * (nothing was lost: only the resyncs follow).
     */
    async resetConnectorSlot(input: { connector?: string; recoveredBy?: string }): Promise<ResetResult> {
      const connector = input.connector ?? pipelineNames.connector;
      const config = await connect.config(connector).catch((err: unknown) => {
        throw permanentFailure(IngestErrorType.InvalidInput, `connector ${connector} is not registered at ${connect.url} (${(err as Error).message}); npm run setup registers it`);
      });
      const slot = config['slot.name'];
      if (!slot) throw permanentFailure(IngestErrorType.InvalidInput, `connector ${connector} has no slot.name`);
      // The slot lives in its group's source database (the slot functions check current_database()).
      const db = groupSource(env, groupOfSlot(slot) ?? DEFAULT_GROUP, deps.pool);
      const state = await slotState(db, slot);
      const before = !state.found ? 'missing' : state.walStatus === 'lost' ? 'lost' : `usable (${state.walStatus})`;
      if (state.found && state.walStatus !== 'lost') {
        // A healthy pipeline, or a retry after this recovery made the new slot (its gap is recorded): only make sure it streams.
        if ((await connect.connectorState(connector)) !== 'RUNNING') await connect.resume(connector);
        const mine = input.recoveredBy ? (await readGaps(ch)).filter((g) => g.recoveredBy === input.recoveredBy) : [];
        const g = mine[0];
        if (!g) return { slot, before, droppedSlot: false };
        const gap = { reason: g.reason, fromLsn: g.fromLsn, fromTime: g.fromTime, toLsn: g.toLsn, toTime: g.toTime, tables: mine.map((x) => x.sourceTable), advancedWal: false };
        return { slot, before: g.reason === 'slot lost' ? 'lost' : 'missing', droppedSlot: true, gap };
      }
      const tables = (config['table.include.list'] ?? '').split(',').map((t) => t.trim()).filter(Boolean);

      heartbeat({ step: `stopping connector ${connector} (slot ${slot} ${before})` });
      await stopConnector(connector);
      // Where capture stopped: read before the offsets are reset and the slot dropped.
      const offset = offsetPosition(await connect.offsets(connector).catch(() => []));
      const confirmed = (await slotState(db, slot)).confirmedFlushLsn;
      const newest = await newestCaptured(tables);
      let from = offset.lsn > newest ? offset.lsn : newest;
      if (confirmed && lsnToBigInt(confirmed) > from) from = lsnToBigInt(confirmed);

      let droppedSlot = false;
      // The walsender of a stopped task can take a moment to go; a slot in use cannot be dropped.
      await waitForState(`slot ${slot} released and dropped`, async () => {
        const s = await slotState(db, slot);
        if (!s.found) return true;
        if (s.active) return false;
        droppedSlot = await dropInactiveSlot(db, slot).catch(asPermanent);
        return droppedSlot;
      });
      await connect.resetOffsets(connector);
      // Without offsets Debezium would snapshot every table through Kafka; the resync that follows loads them faster.
      if (config['snapshot.mode'] !== 'no_data') await connect.putConfig(connector, { ...config, 'snapshot.mode': 'no_data' });

      const advancedWal = (await walInsertPosition(db)).lsn <= from;
      if (advancedWal) {
        heartbeat({ step: `moving the WAL position past ${from} (captured before a failover)` });
        await advanceWalPast(db, formatLsn(from)).catch(asPermanent);
      }
      const reason = before === 'lost' ? ('slot lost' as const) : ('slot missing' as const);
      const recoveredBy = input.recoveredBy ?? `resetConnectorSlot ${new Date().toISOString()}`;
      const record = (to: bigint, at: Date) =>
        recordGaps(ch, tables.map((sourceTable) => ({ sourceTable, slot, reason, fromLsn: String(from), toLsn: String(to), fromTime: offset.time, toTime: at.toISOString(), reloadLsn: null, recoveredBy })));
      // Recorded before the slot is made (ending where the WAL is now), then again with its exact consistent point:
      // a retry after a crash in between finds the slot usable and this recovery's gap recorded.
      const now = await walInsertPosition(db);
      await record(now.lsn, now.at);
      const made = await createLogicalSlot(db, slot).catch(asPermanent);
      await record(made.lsn, made.at);
      const gap = { reason, fromLsn: String(from), fromTime: offset.time, toLsn: String(made.lsn), toTime: made.at.toISOString(), tables, advancedWal };

      heartbeat({ step: `resuming connector ${connector} on the new slot ${slot}` });
      await resumeOnNewSlot(connector, db, slot);
      return { slot, before, droppedSlot, gap };
    },

    /** The tables to resync: the named ones, else every captured table of the group (default: the default group) whose slot was reset. */
    async tablesToResync(input: { tables?: string[]; group?: string }): Promise<string[]> {
      const entries = (await catalogEntries(deps.pool)).filter((e) => isCaptured(e.state));
      const captured = entries.map((e) => e.declaration.source);
      if (!input.tables || input.tables.length === 0) return entries.filter((e) => groupOf(e.declaration) === (input.group ?? DEFAULT_GROUP)).map((e) => e.declaration.source);
      const unknown = input.tables.filter((t) => !captured.includes(t));
      if (unknown.length > 0) throw permanentFailure(IngestErrorType.TableNotCaptured, `not captured: ${unknown.join(', ')} (astros tables list shows what is)`);
      return input.tables;
    },
  };
}
export type RecoverActivities = ReturnType<typeof createRecoverActivities>;
