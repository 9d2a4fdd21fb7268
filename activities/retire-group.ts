/**
 * A table group whose last table was removed: its connector, slot and publication go, once nothing is
 * pending: the connector has confirmed to its slot every change written before now (the removed
 * tables' last changes are in Kafka, and ClickHouse reads them from there). Then the connector is
 * stopped, its stored offsets forgotten (a group made again under the same name starts afresh, from
 * its new slot), it is deleted, and the slot and publication are dropped. The default group is never
 * retired (its connector is the pipeline's). Part of applying the catalog (activities/apply-catalog.ts).
 */
import type { KafkaConnect } from '../connectors/kafka-connect/client.ts';
import type { Queryable } from '../connectors/postgres/pool.ts';
import { dropInactiveSlot, slotState } from '../connectors/postgres/slots.ts';
import { lsnToBigInt } from '../shared/lsn.ts';
import { DEFAULT_GROUP, GROUP_NAME, groupNames, pipelineNames } from '../shared/names.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Groups that have a publication or a connector on the stack (the names groupNames gives them). */
export async function liveGroups(db: Queryable, connect: KafkaConnect): Promise<string[]> {
  const pubPrefix = `${pipelineNames.publication}_`;
  const conPrefix = `${pipelineNames.connector}-`;
  const { rows } = await db.query<{ pubname: string }>(`select pubname from pg_publication where starts_with(pubname, $1)`, [pubPrefix]);
  const names = [...rows.map((r) => r.pubname.slice(pubPrefix.length)), ...(await connect.names()).filter((n) => n.startsWith(conPrefix)).map((n) => n.slice(conPrefix.length))];
  return [...new Set(names)].filter((g) => g !== DEFAULT_GROUP && GROUP_NAME.test(g)).sort();
}

/** Poll `done` every 250 ms for at most `ms`; false when it never held. */
async function until(done: () => Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; ; await sleep(250)) {
    if (await done()) return true;
    if (Date.now() > end) return false;
  }
}

/**
 * Retire one emptied group; says what it did. A connector that is registered but not running cannot
 * drain what is pending: the group is kept and the line says so (the next apply tries again).
 */
export async function retireGroup(db: Queryable, connect: KafkaConnect, group: string, log: (m: string) => void, drainMs = 120_000): Promise<boolean> {
  const g = groupNames(group);
  const status = await connect.status(g.connector);
  const [{ lsn }] = (await db.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows as [{ lsn: string }];
  if (status) {
    if (status.connector.state !== 'RUNNING' || !status.tasks.every((t) => t.state === 'RUNNING')) {
      log(`group ${group} has no table left, but its connector ${g.connector} is ${status.connector.state}: kept until it has streamed what is pending (resume it, then apply again)`);
      return false;
    }
    const drained = await until(async () => {
      const s = await slotState(db, g.slot);
      return !s.found || (s.confirmedFlushLsn != null && lsnToBigInt(s.confirmedFlushLsn) >= lsnToBigInt(lsn));
    }, drainMs);
    if (!drained) throw new Error(`group ${group}: slot ${g.slot} did not confirm ${lsn} within ${drainMs / 1000} s; its connector and slot are kept for now`);
    await connect.stop(g.connector);
    if (!(await until(async () => (await connect.connectorState(g.connector)) === 'STOPPED', 60_000))) throw new Error(`connector ${g.connector} did not stop within 60 s`);
    await connect.resetOffsets(g.connector);
    await connect.remove(g.connector);
  }
  // The stopped task's walsender can take a moment to go; a slot in use cannot be dropped.
  const dropped = await until(async () => {
    const s = await slotState(db, g.slot);
    return !s.found || (!s.active && (await dropInactiveSlot(db, g.slot)));
  }, 60_000);
  if (!dropped) throw new Error(`slot ${g.slot} still in use 60 s after its connector was removed`);
  await db.query(`drop publication if exists ${g.publication}`);
  if (g.heartbeatRow !== undefined) await db.query(`delete from ${g.heartbeatTable} where group_name = $1`, [g.heartbeatRow]);
  log(`group ${group}: no table left; its changes up to ${lsn} were streamed; connector ${g.connector}, slot ${g.slot} and publication ${g.publication} removed`);
  return true;
}
