/**
 * A (re)created Kafka-engine queue must start with every view that reads it:
 * the plan makes the views on a placeholder queue (a topic that never exists,
 * its own group) and only then creates the real queue.
 */
import { describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { tableObjects } from '../../catalog/clickhouse-objects.ts';
import { parseDeclarations } from '../../catalog/declaration.ts';
import type { SourceTable } from '../../catalog/introspect.ts';
import { planTable } from '../../catalog/reconcile.ts';
import { tableNames } from '../../shared/names.ts';

const day = 86_400_000;
const sink = { kafkaBrokers: ['kafka:29092'], registryUrl: 'http://registry:8080/apis/ccompat/v7', retention: { changelogMs: 30 * day, errorsMs: 90 * day, topicMs: 7 * day } };
const src: SourceTable = {
  source: 'public.things', schema: 'public', table: 'things', kind: 'r', replicaIdentity: 'f', owner: 'astros',
  columns: [{ name: 'id', type: 'text', notNull: true, keyPosition: 1, comment: null }, { name: 'v', type: 'integer', notNull: false, keyPosition: null, comment: null }],
};
const t = tableObjects(parseDeclarations([{ source: src.source }], 'test')[0]!, src, tableNames(src.source), sink);

describe('the consumer in a reconcile plan', () => {
  it('creates every view before the real queue, on a placeholder that reads nothing of the topic or the group', async () => {
    const plan = await planTable({} as ClickHouseClient, t, new Map());
    const consumer = plan.actions.find((a) => a.kind === 'create-consumer');
    const sql = consumer && 'sql' in consumer ? [consumer.sql].flat() : [];
    const createsQueue = (s: string) => s.startsWith(`CREATE TABLE ${t.queue.name}`) && /^CREATE TABLE \S+\s/.test(s);
    const queues = sql.map((s, i) => [s, i] as const).filter(([s]) => createsQueue(s));
    expect(queues).toHaveLength(2);
    const [[placeholder, first], [real, last]] = queues as [[string, number], [string, number]];
    expect(placeholder).not.toContain(`kafka_topic_list = '${t.names.topic}'`);
    expect(placeholder).not.toContain(`kafka_group_name = '${t.names.group}'`);
    expect(real).toContain(`kafka_topic_list = '${t.names.topic}'`);
    expect(real).toContain(`kafka_group_name = '${t.names.group}'`);
    const views = t.views.map((v) => sql.findIndex((s) => s.startsWith(`CREATE MATERIALIZED VIEW ${v.name} TO `)));
    for (const at of views) expect(at).toBeGreaterThan(first);
    for (const at of views) expect(at).toBeLessThan(last);
    expect(sql.slice(Math.max(...views) + 1, last)).toEqual([`DROP TABLE IF EXISTS ${t.queue.name}`]);
  });
});
