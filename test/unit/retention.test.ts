import type { ClickHouseClient } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { createSql, tableSql } from '../../catalog/clickhouse-create.ts';
import { tableObjects } from '../../catalog/clickhouse-objects.ts';
import { parseDeclarations } from '../../catalog/declaration.ts';
import type { SourceTable } from '../../catalog/introspect.ts';
import { tableNames } from '../../shared/names.ts';
import { applyPlan, describeAction, ttlActions, type LiveTable } from '../../catalog/reconcile.ts';
import { rowsKeptMs, tableRetention, topicRetentionMs, topicRetentionUpdate, ttlExpression, ttlOf } from '../../catalog/retention.ts';
import { formatRetention, parseRetention } from '../../shared/duration.ts';

const day = 86_400_000;
const retention = { changelogMs: 30 * day, errorsMs: 90 * day, topicMs: 7 * day };
const sink = { kafkaBrokers: ['127.0.0.1:9092'], registryUrl: 'http://127.0.0.1:8081/apis/ccompat/v7', retention };

const people: SourceTable = {
  source: 'public.people',
  schema: 'public',
  table: 'people',
  kind: 'r',
  replicaIdentity: 'f',
  owner: 'astros',
  columns: [
    { name: 'id', type: 'bigint', notNull: true, keyPosition: 1, comment: null },
    { name: 'name', type: 'text', notNull: false, keyPosition: null, comment: null },
  ],
};

const objects = (decl: Record<string, unknown> = {}, r = retention) => {
  const [d] = parseDeclarations([{ source: 'public.people', ...decl }], 'test');
  return tableObjects(d!, people, tableNames('public.people'), { ...sink, retention: r });
};

/** A ClickHouse stand-in: formats `INTERVAL n DAY` as ClickHouse prints it, records commands. */
function fakeClickHouse(): { ch: ClickHouseClient; commands: string[] } {
  const commands: string[] = [];
  const format = (q: string) => q.replace(/INTERVAL (\d+) (DAY|HOUR|MINUTE|SECOND)/g, (_, n: string, u: string) => `toInterval${u[0]}${u.slice(1).toLowerCase()}(${n})`);
  const ch = {
    query: ({ query_params }: { query_params: { a: string; b: string } }) => Promise.resolve({ json: () => Promise.resolve([{ a: format(query_params.a), b: format(query_params.b) }]) }),
    command: ({ query }: { query: string }) => {
      commands.push(query);
      return Promise.resolve({});
    },
  } as unknown as ClickHouseClient;
  return { ch, commands };
}

const live = (name: string, engineFull: string): LiveTable => ({ name, engine: 'MergeTree', engineFull, createQuery: '', asSelect: '', sortingKey: '', columns: [] });

describe('retention settings', () => {
  it('read whole s, m, h or d; 0 and forever keep everything; anything else is refused', () => {
    expect(['30d', '12h', '90m', '3600s', '0', 'forever', 'FOREVER'].map(parseRetention)).toEqual([30 * day, 12 * 3_600_000, 90 * 60_000, 3_600_000, 0, 0, 0]);
    for (const bad of ['', '500ms', '-1', '1.5d', '7 days', '1w', '01d']) expect(parseRetention(bad), bad).toBeUndefined();
    expect([30 * day, 36 * 3_600_000, 90 * 60_000, 61_000, 0].map(formatRetention)).toEqual(['30d', '36h', '90m', '61s', 'forever']);
  });

  it('become a ClickHouse TTL in the largest whole unit and Kafka retention.ms (-1 forever)', () => {
    expect(ttlExpression('ingested_at', 30 * day)).toBe('ingested_at + INTERVAL 30 DAY');
    expect(ttlExpression('ingested_at', 36 * 3_600_000)).toBe('ingested_at + INTERVAL 36 HOUR');
    expect(ttlExpression('received_at', 61_000)).toBe('received_at + INTERVAL 61 SECOND');
    expect(ttlExpression('ingested_at', 0)).toBeUndefined();
    expect([topicRetentionMs(7 * day), topicRetentionMs(0)]).toEqual(['604800000', '-1']);
  });

  it('read the TTL back from engine_full', () => {
    expect(ttlOf('MergeTree ORDER BY (k, lsn) TTL ingested_at + toIntervalDay(30) SETTINGS index_granularity = 8192')).toBe('ingested_at + toIntervalDay(30)');
    expect(ttlOf('MergeTree ORDER BY k TTL ingested_at + toIntervalDay(30)')).toBe('ingested_at + toIntervalDay(30)');
    expect(ttlOf('MergeTree ORDER BY k SETTINGS index_granularity = 8192')).toBeUndefined();
  });

  it('offsets are accountable for as long as both the change log and kafka_errors keep their rows', () => {
    expect(rowsKeptMs(retention)).toBe(30 * day);
    expect(rowsKeptMs({ ...retention, changelogMs: 0 })).toBe(90 * day);
    expect(rowsKeptMs({ ...retention, changelogMs: 0, errorsMs: 0 })).toBe(0);
  });

  it('a declaration overrides the change log and topic retention of its table, never the shared error stream', () => {
    expect(tableRetention({ changelog: '14d', topic: 'forever' }, retention)).toEqual({ changelogMs: 14 * day, errorsMs: 90 * day, topicMs: 0 });
    expect(tableRetention(undefined, retention)).toEqual(retention);
    expect(() => parseDeclarations([{ source: 'public.x', retention: { changelog: '2 weeks' } }], 'here')).toThrow(/here: public\.x: retention\.changelog: expected a duration/);
    expect(() => parseDeclarations([{ source: 'public.x', retention: { changes: '1d' } }], 'here')).toThrow(/Unrecognized key/);
  });
});

describe('generated objects', () => {
  it('the per-message record expires by ingested_at; the deduplicated change log and the current state never do', () => {
    const t = objects();
    expect(t.changelog.ttl).toBe('ingested_at + INTERVAL 30 DAY');
    expect(createSql(t.changelog)).toMatch(/\nORDER BY \(id, lsn, kafka_offset\)\nTTL ingested_at \+ INTERVAL 30 DAY$/);
    for (const s of [t.changes, t.current]) {
      expect(s.ttl, s.name).toBeUndefined();
      expect(createSql(s), s.name).not.toContain('TTL');
    }
    expect(t.errors).toEqual({ name: 'astros.kafka_errors', ttl: 'received_at + INTERVAL 90 DAY' });
    expect(tableSql(t)).toContain('-- retention: topic 7d, astros.people_changelog 30d, astros.kafka_errors 90d; astros.people_changes and astros.people forever');
  });

  it('forever leaves the TTL out; a declared override wins', () => {
    const forever = objects({}, { changelogMs: 0, errorsMs: 0, topicMs: 0 });
    expect(createSql(forever.changelog)).not.toContain('TTL');
    expect(forever.errors).toEqual({ name: 'astros.kafka_errors' });
    const own = objects({ retention: { changelog: '36h', topic: '1d' } });
    expect(own.changelog.ttl).toBe('ingested_at + INTERVAL 36 HOUR');
    expect(own.retention).toEqual({ changelogMs: 36 * 3_600_000, errorsMs: 90 * day, topicMs: day });
  });
});

describe('reconcile', () => {
  it('sets, changes and removes a TTL on an existing table, and leaves an equal one alone', async () => {
    const { ch } = fakeClickHouse();
    const n = 'astros.people_changelog';
    const want = 'ingested_at + INTERVAL 30 DAY';
    expect(await ttlActions(ch, n, want, undefined)).toEqual([]); // created with it
    expect(await ttlActions(ch, n, want, live(n, 'MergeTree ORDER BY k TTL ingested_at + toIntervalDay(30) SETTINGS index_granularity = 8192'))).toEqual([]);
    expect(await ttlActions(ch, n, undefined, live(n, 'MergeTree ORDER BY k SETTINGS index_granularity = 8192'))).toEqual([]);
    const [set] = await ttlActions(ch, n, want, live(n, 'MergeTree ORDER BY k SETTINGS index_granularity = 8192'));
    expect(set).toEqual({ kind: 'ttl', object: n, detail: `set TTL ${want}`, sql: `ALTER TABLE ${n} MODIFY TTL ${want}` });
    const [change] = await ttlActions(ch, n, want, live(n, 'MergeTree ORDER BY k TTL ingested_at + toIntervalDay(7) SETTINGS index_granularity = 8192'));
    expect(describeAction(change!)).toBe(`${n}: TTL ingested_at + toIntervalDay(7) -> ${want}`);
    expect(await ttlActions(ch, n, undefined, live(n, 'MergeTree ORDER BY k TTL ingested_at + toIntervalDay(7)'))).toEqual([
      { kind: 'ttl', object: n, detail: 'remove TTL ingested_at + toIntervalDay(7)', sql: `ALTER TABLE ${n} REMOVE TTL` },
    ]);
  });

  it('removes a TTL from a table that must keep every row, and reports it as drift', async () => {
    const { ch } = fakeClickHouse();
    const actions = await ttlActions(ch, 'astros.people', undefined, live('astros.people', 'ReplacingMergeTree(version, is_deleted) ORDER BY id TTL commit_ts + toIntervalDay(1)'), 'must keep every row');
    expect(actions.map(describeAction)).toEqual(['DRIFT astros.people: had TTL commit_ts + toIntervalDay(1), removed: must keep every row', 'astros.people: remove TTL commit_ts + toIntervalDay(1)']);
  });

  it('applies TTLs last: a copy of the record into <t>_changes reads it before a new TTL deletes from it', async () => {
    const { ch, commands } = fakeClickHouse();
    await applyPlan(
      ch,
      {
        table: 'public.people',
        actions: [
          { kind: 'ttl', object: 'astros.people_changelog', detail: 'set', sql: 'TTL' },
          { kind: 'create-consumer', object: 'astros.people_queue', sql: ['CONSUMER'] },
          { kind: 'feed-changes', object: 'astros.people_changes', reason: 'missing', backfill: true, sql: ['VIEW', 'BACKFILL'] },
          { kind: 'create', object: 'astros.people_changes', sql: 'CREATE' },
        ],
      },
      () => undefined,
    );
    expect(commands).toEqual(['CREATE', 'VIEW', 'BACKFILL', 'CONSUMER', 'TTL']);
  });
});

describe('topic retention', () => {
  const entry = (configName: string, configValue: string, configSource: number) => ({ configName, configValue, configSource });

  it('is set explicitly on a topic that inherits the broker default, and left alone once it matches', () => {
    expect(topicRetentionUpdate([entry('retention.ms', '604800000', 5), entry('cleanup.policy', 'delete', 5)], 7 * day)).toEqual({
      from: '604800000 (broker default)',
      to: '604800000',
      entries: [{ name: 'retention.ms', value: '604800000' }],
    });
    expect(topicRetentionUpdate([entry('retention.ms', '604800000', 1)], 7 * day)).toBeUndefined();
    expect(topicRetentionUpdate([entry('retention.ms', '604800000', 1)], 0)?.to).toBe('-1');
  });

  it("keeps the topic's other overrides (AlterConfigs replaces them all)", () => {
    const u = topicRetentionUpdate([entry('retention.ms', '3600000', 1), entry('max.message.bytes', '2097152', 1), entry('segment.ms', '604800000', 4)], 30 * day);
    expect(u).toEqual({
      from: '3600000',
      to: '2592000000',
      entries: [
        { name: 'max.message.bytes', value: '2097152' },
        { name: 'retention.ms', value: '2592000000' },
      ],
    });
  });
});
