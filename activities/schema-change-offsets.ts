/**
 * A schema change's apply and the topic's offsets (activities/schema-changes.ts):
 * holding until every partition has passed the change, and rewinding the
 * table's consumer group, partition by partition, to the change.
 */
import { chRows, type ClickHouseClient } from '../connectors/clickhouse/client.ts';
import { rewindGroup } from '../connectors/kafka/offsets.ts';
import type { TableObjects } from '../catalog/object-types.ts';
import { liveTables } from '../catalog/reconcile.ts';
import { lsnToBigInt } from '../shared/lsn.ts';
import { groupNames } from '../shared/names.ts';
import { capturedGroups } from '../catalog/store.ts';
import type { ActivityDeps } from './deps.ts';
import { heartbeat } from './heartbeat.ts';
import { waitUntilConsumed } from './validation/catch-up.ts';

type OffsetDeps = Pick<ActivityDeps, 'pool' | 'clickhouse' | 'kafka'>;

/** How long an apply holds for every partition to pass the change before it fails (and Temporal retries it). */
const HOLD_MS = 5 * 60_000;

/**
 * Hold until every partition has passed the DDL at `lsn`: Debezium has acknowledged it (every older
 * event is in Kafka) and the consumer has read each partition to its end read after that. With
 * several partitions, a key's older events of the old shape can still wait on one partition while
 * another already carries the new shape; held, the old queue reads every older event with the shape
 * it was written in, and the rewind hands the new queue only events at or after the DDL. A retried
 * apply whose queue is already gone holds nothing: no consumer reads until the apply recreates it.
 */
export async function holdUntilPassed(deps: OffsetDeps, ch: ClickHouseClient, t: TableObjects, lsn: string, source: OffsetDeps['pool'] = deps.pool): Promise<void> {
  if (!(await liveTables(ch, t.names.database)).has(t.queue.name)) return;
  heartbeat({ step: `${t.names.source}: waiting until every partition of ${t.names.topic} has passed the change` });
  const slotName = groupNames((await capturedGroups(deps.pool)).get(t.names.source)).slot;
  const target = { slotName, topic: t.names.topic, groupId: t.names.group };
  // The slot and the watermark that moves it are in the table's source database (a group's own, or the pipeline's).
  const held = await waitUntilConsumed({ ...deps, pool: source }, target, lsnToBigInt(lsn), HOLD_MS);
  if (!held.caughtUp) throw new Error(`${t.names.source}: the change waits until every partition has passed it: ${held.detail}`);
}

/** The group back to the first message at or after `lsn` (what the old queue read with the old shape), partition by partition. */
export async function rewindToChange(deps: OffsetDeps, ch: ClickHouseClient, t: TableObjects, lsn: string): Promise<string> {
  const found = await chRows<{ partition: number; offset: string }>(
    ch,
    `SELECT kafka_partition AS partition, toString(min(kafka_offset)) AS offset FROM ${t.changelog.name}
      WHERE lsn >= toUInt64({lsn:String}) GROUP BY kafka_partition`,
    { lsn },
  );
  if (found.length === 0) return 'nothing to read again';
  // The dropped queue's consumer leaves the group; until the broker has seen it go, offsets cannot be set.
  const moved = await rewindGroup(deps.kafka, t.names.group, t.names.topic, found, () =>
    heartbeat({ step: `waiting for consumer group ${t.names.group} to be empty to rewind it` }),
  );
  if (moved.length === 0) return 'nothing to read again (the group is not past the change)';
  return `group ${t.names.group} rewound to ${moved.map((p) => `partition ${p.partition} offset ${p.offset}`).join(', ')}`;
}

