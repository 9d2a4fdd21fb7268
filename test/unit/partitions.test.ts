/**
 * Topics with several partitions: the declaration's `partitions` (else the
 * pipeline's), one ClickHouse consumer per partition, a topic's partitions
 * fixed once it exists, and offsets handled partition by partition (a rewind
 * moves each partition on its own, the lag report sums each one's shortfall).
 */
import { describe, expect, it } from 'vitest';
import { tableObjects } from '../../catalog/clickhouse-objects.ts';
import { parseDeclarations } from '../../catalog/declaration.ts';
import type { SourceTable } from '../../catalog/introspect.ts';
import { partitionChange } from '../../connectors/kafka/topics.ts';
import { rewindMoves } from '../../connectors/kafka/offsets.ts';
import { formatLagReport, type LagReport } from '../../activities/lag-report.ts';
import { tableNames } from '../../shared/names.ts';
import { declarationFromOptions } from '../../cli/tables.ts';
import type { ClickHouseClient } from '@clickhouse/client';
import { planTable } from '../../catalog/reconcile.ts';

const week = 7 * 86_400_000;
const sink = { kafkaBrokers: ['k:9092'], registryUrl: 'http://r', retention: { changelogMs: week, errorsMs: week, topicMs: week } };
const id = { name: 'id', type: 'bigint', notNull: true, keyPosition: 1, comment: null };
const source: SourceTable = { source: 'public.t', schema: 'public', table: 't', kind: 'r', replicaIdentity: 'f', owner: 'astros', columns: [id] };

const objects = (decl: Record<string, unknown>, pipeline?: number) => {
  const [d] = parseDeclarations([{ source: 'public.t', ...decl }], 'test');
  return tableObjects(d!, source, tableNames('public.t'), { ...sink, ...(pipeline !== undefined ? { partitions: pipeline } : {}) });
};
const setting = (o: ReturnType<typeof objects>, name: string) => o.queue.settings.find(([k]) => k === name)?.[1];

describe('a table declared with partitions', () => {
  it('reads with one consumer per partition, past the one-per-core limit', () => {
    const t = objects({ partitions: 3 });
    expect(t.partitions).toBe(3);
    expect(setting(t, 'kafka_num_consumers')).toBe(3);
    expect(setting(t, 'kafka_disable_num_consumers_limit')).toBe(1);
  });

  it('takes the pipeline default when it names none; one partition keeps the settings as they were', () => {
    expect(objects({}, 4).partitions).toBe(4);
    const one = objects({});
    expect(one.partitions).toBe(1);
    expect(setting(one, 'kafka_num_consumers')).toBe(1);
    expect(setting(one, 'kafka_disable_num_consumers_limit')).toBeUndefined();
    expect(objects({ partitions: 2 }, 4).partitions).toBe(2);
  });

  it('is what `tables add --partitions` declares', () => {
    expect(declarationFromOptions('public.t', { partitions: 3 })).toEqual({ source: 'public.t', partitions: 3 });
    expect(declarationFromOptions('public.t', {})).toEqual({ source: 'public.t' });
  });

  it('refuses a count that is not a positive integer up to 64', () => {
    for (const partitions of [0, 65, 1.5, '3']) expect(() => parseDeclarations([{ source: 'public.t', partitions }], 'here')).toThrow(/here: public\.t: partitions/);
  });
});

describe("a topic's partitions", () => {
  it('are fixed once it exists: a change is refused in one line with the way out', () => {
    expect(partitionChange('astros.public.t', 3, 3)).toBeUndefined();
    const refused = partitionChange('astros.public.t', 1, 3, 'public.t')!;
    expect(refused).toMatch(/^topic astros\.public\.t has 1 partition\(s\) but public\.t declares 3: .*declare partitions: 1 again, or .*tables -- remove, then add\)$/);
    expect(refused).not.toContain('\n');
  });
});

describe('rewinding a group, partition by partition', () => {
  const to = [
    { partition: 0, offset: '10' },
    { partition: 1, offset: '50' },
    { partition: 2, offset: '7' },
  ];
  it('moves back only the partitions the group has read past their target', () => {
    // 0 is past its target, 1 not there yet, 2 never committed.
    expect(rewindMoves(new Map([[0, 25n], [1, 40n], [2, -1n]]), to)).toEqual([to[0], to[2]]);
  });
  it('moves nothing when every partition is at or before its target', () => {
    expect(rewindMoves(new Map([[0, 10n], [1, 50n], [2, 0n]]), to)).toEqual([]);
  });
});

describe('the lag report', () => {
  it('names the partitions a topic has when more than one, and the lag of each', () => {
    const r: LagReport = {
      at: 'now',
      postgres: { currentLsn: '0/1', slot: 's', slotFound: true, active: true, confirmedFlushLsn: '0/1', flushLagBytes: 0, retainedWalBytes: 0, walStatus: 'reserved', lastHeartbeat: null },
      kafka: [
        {
          topic: 'a',
          group: 'ga',
          partitions: 3,
          endOffset: 30,
          committedOffset: 25,
          lag: 5,
          byPartition: [
            { partition: 0, endOffset: 10, committedOffset: 10, lag: 0 },
            { partition: 1, endOffset: 10, committedOffset: 5, lag: 5 },
            { partition: 2, endOffset: 10, committedOffset: 10, lag: 0 },
          ],
        },
        { topic: 'b', group: 'gb', partitions: 1, endOffset: 9, committedOffset: 9, lag: 0, byPartition: [{ partition: 0, endOffset: 9, committedOffset: 9, lag: 0 }] },
      ],
      clickhouse: [],
    };
    const text = formatLagReport(r);
    expect(text).toContain('a -> group ga: end 30, committed 25, lag 5 (3 partitions: p0 0, p1 5, p2 0)');
    expect(text).toMatch(/b -> group gb: end 9, committed 9, lag 0$/m);
  });
});

describe('a running queue of several consumers', () => {
  it('is left alone by setup: the consumer limit switch is checked at creation and not kept in its definition', async () => {
    const t = objects({ partitions: 3 });
    // What ClickHouse shows for the queue: every setting but the create-only one.
    const kept = t.queue.settings.filter(([k]) => k !== 'kafka_disable_num_consumers_limit');
    const engineFull = `Kafka SETTINGS ${kept.map(([k, v]) => `${k} = ${typeof v === 'number' ? v : `'${v}'`}`).join(', ')}`;
    const live = new Map([[t.queue.name, { name: t.queue.name, engine: 'Kafka', engineFull, createQuery: '', asSelect: '', sortingKey: '', columns: t.queue.columns.map((c) => ({ name: c.name, type: c.type, comment: '' })) }]]);
    const plan = await planTable({} as ClickHouseClient, t, live);
    const consumer = plan.actions.find((a) => a.kind === 'recreate-consumer' || a.kind === 'create-consumer');
    // The views are missing here (they are recreated); the queue itself is not a reason.
    expect(consumer && 'reason' in consumer ? consumer.reason : '').not.toContain(`${t.queue.name}:`);
  });
});
