/**
 * Recovery from a lost replication slot (workflows/recover-pipeline.ts):
 * the connector stopped, the dead slot dropped, its offsets forgotten, then
 * resumed: Debezium creates a new slot and streams from its consistent point
 * (no snapshot: the catalog's tables are resynced after, straight from
 * Postgres). Every step is idempotent.
 */
import type pg from 'pg';
import { pipelineNames } from '../catalog/names.ts';
import { catalogEntries, isCaptured } from '../catalog/store.ts';
import type { Endpoints } from '../config/env.ts';
import { slotState } from '../pipeline/slot-health.ts';
import { IngestErrorType, permanentFailure } from './errors.ts';
import { cancelled, heartbeat } from './heartbeat.ts';
import { connectorConfigOf, connectorState, connectorStatus, putConnectorConfig, resetConnectorOffsets, resumeConnector, stopConnector } from './kafka-connect.ts';

export interface RecoverDeps {
  pool: pg.Pool;
  endpoints?: Endpoints;
}

export interface ResetResult {
  slot: string;
  /** What the slot was before: lost, missing, or usable (then only the offsets were reset). */
  before: string;
  droppedSlot: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createRecoverActivities(deps: RecoverDeps) {
  const need = () => {
    if (!deps.endpoints) throw permanentFailure(IngestErrorType.InvalidInput, 'this worker has no pipeline addresses (CONNECT_URL)');
    return deps.endpoints;
  };

  return {
    /** Stop the connector, drop its slot if it is dead, reset its offsets, resume; returns once it streams from a new slot. */
    async resetConnectorSlot(input: { connector?: string }): Promise<ResetResult> {
      const env = need();
      const connector = input.connector ?? pipelineNames.connector;
      const config = await connectorConfigOf(env.connectUrl, connector).catch((err: unknown) => {
        throw permanentFailure(IngestErrorType.InvalidInput, `connector ${connector} is not registered at ${env.connectUrl} (${(err as Error).message}); npm run setup registers it`);
      });
      const slot = config['slot.name'];
      if (!slot) throw permanentFailure(IngestErrorType.InvalidInput, `connector ${connector} has no slot.name`);
      const state = await slotState(deps.pool, slot);
      const before = !state.found ? 'missing' : state.walStatus === 'lost' ? 'lost' : `usable (${state.walStatus})`;
      heartbeat({ step: `stopping connector ${connector} (slot ${slot} ${before})` });
      await stopConnector(env.connectUrl, connector);
      for (;;) {
        if ((await connectorStatus(env.connectUrl, connector)) === 'STOPPED') break;
        if (cancelled()) throw new Error('cancelled');
        await sleep(500);
      }
      let droppedSlot = false;
      // The walsender of a stopped task can take a moment to go; a slot in use cannot be dropped.
      for (let i = 0; ; i++) {
        const s = await slotState(deps.pool, slot);
        if (!s.found) break;
        if (!s.active) {
          const { rows } = await deps.pool.query<{ dropped: boolean }>('select public.astros_drop_inactive_slot($1) as dropped', [slot]).catch((err: unknown) => {
            throw permanentFailure(
              IngestErrorType.InvalidInput,
              `cannot drop slot ${slot} (${(err as Error).message}): the stack's superuser setup installs public.astros_drop_inactive_slot (npm run stack -- up); or, as a superuser, run select pg_drop_replication_slot('${slot}'); then recover again`,
            );
          });
          droppedSlot = rows[0]?.dropped === true;
          if (droppedSlot) break;
        }
        if (i > 120) throw new Error(`slot ${slot} is still in use 60 s after the connector stopped`);
        heartbeat({ step: `waiting for slot ${slot} to be released` });
        await sleep(500);
      }
      await resetConnectorOffsets(env.connectUrl, connector);
      // Without offsets Debezium would snapshot every table through Kafka; the resync that follows loads them faster.
      if (config['snapshot.mode'] !== 'no_data') await putConnectorConfig(env.connectUrl, connector, { ...config, 'snapshot.mode': 'no_data' });
      heartbeat({ step: `resuming connector ${connector}: it creates slot ${slot} anew` });
      await resumeConnector(env.connectUrl, connector);
      for (;;) {
        const [s, c] = await Promise.all([slotState(deps.pool, slot), connectorState(env.connectUrl, connector).catch(() => undefined)]);
        if (c?.failure) throw new Error(`connector ${connector} failed after the reset: ${c.failure}`);
        if (s.found && s.walStatus !== 'lost' && c?.running) break;
        heartbeat({ step: `waiting for connector ${connector} to run on a new slot ${slot}` });
        if (cancelled()) throw new Error('cancelled');
        await sleep(1_000);
      }
      return { slot, before, droppedSlot };
    },

    /** The tables to resync: the named ones, else every captured table of the catalog. */
    async tablesToResync(input: { tables?: string[] }): Promise<string[]> {
      const captured = (await catalogEntries(deps.pool)).filter((e) => isCaptured(e.state)).map((e) => e.declaration.source);
      if (!input.tables || input.tables.length === 0) return captured;
      const unknown = input.tables.filter((t) => !captured.includes(t));
      if (unknown.length > 0) throw permanentFailure(IngestErrorType.TableNotCaptured, `not captured: ${unknown.join(', ')} (astros tables list shows what is)`);
      return input.tables;
    },
  };
}

export type RecoverActivities = ReturnType<typeof createRecoverActivities>;
