import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectorFor, readConnectorFile } from '../../catalog/connector.ts';
import { groupOf, parseDeclarations } from '../../catalog/declaration.ts';
import type { SourceTable } from '../../catalog/introspect.ts';
import { planPublication, type PublicationState } from '../../catalog/publication.ts';
import { groupsOf } from '../../catalog/store.ts';
import { repositoryTables } from '../../catalog/tables.ts';
import { formatLagReport, lagFailure, type GroupLag, type LagReport } from '../../activities/lag-report.ts';
import { declarationFromOptions } from '../../cli/tables.ts';
import { repoRoot } from '../../config/paths.ts';
import { parseConfig } from '../../config/load.ts';
import type { Snapshot } from '../../monitor/collect.ts';
import type { MonitorHistory } from '../../monitor/history.ts';
import { MonitorMetrics } from '../../monitor/metrics.ts';
import { renderPage } from '../../monitor/page.ts';
import { DEFAULT_GROUP, groupNames, groupOfSlot, pipelineNames } from '../../shared/names.ts';
import type { Queryable } from '../../catalog/db.ts';
import { groupDatabaseSlots } from '../../connectors/postgres/sources.ts';

const table = (source: string): SourceTable => ({ source, schema: 'public', table: source.split('.')[1]!, kind: 'r', replicaIdentity: 'f', owner: 'astros', columns: [] });

describe('table groups', () => {
  it('the default group keeps the names and the connector the pipeline had before groups (adopted: nothing restarts or re-reads)', () => {
    expect(groupNames()).toMatchObject({ group: DEFAULT_GROUP, connector: 'astros-postgres', slot: 'astros_debezium', publication: 'astros_publication', topicPrefix: 'astros' });
    // The connector registered for the default group is, setting for setting, the committed file (what stacks registered before).
    const committed = JSON.parse(fs.readFileSync(path.join(repoRoot, 'debezium', 'astros-postgres.json'), 'utf8')) as unknown;
    expect(connectorFor(readConnectorFile(), repositoryTables)).toEqual(committed);
    expect(connectorFor(readConnectorFile(), repositoryTables, DEFAULT_GROUP)).toEqual(committed);
    // A declaration without a group is the default group's, and `tables add` without --group writes none.
    expect(declarationFromOptions('public.a', {})).not.toHaveProperty('group');
    expect(declarationFromOptions('public.a', { group: DEFAULT_GROUP })).not.toHaveProperty('group');
    expect(groupOf(parseDeclarations([{ source: 'public.a' }], 'test')[0]!)).toBe(DEFAULT_GROUP);
  });

  it("another group gets its own connector, slot, publication and heartbeat row, never snapshots, and has no signal table", () => {
    const decls = parseDeclarations([declarationFromOptions('public.orders', { group: 'g2' })], 'test');
    const c = connectorFor(readConnectorFile(), decls, 'g2');
    expect(c.name).toBe('astros-postgres-g2');
    expect(c.config).toMatchObject({ 'slot.name': 'astros_debezium_g2', 'publication.name': 'astros_publication_g2', 'table.include.list': 'public.orders', 'snapshot.mode': 'no_data' });
    // Its own logical name (Debezium registers its metrics under it: two connectors of one name wait for each other), its topics routed
    // back to the pipeline's prefix: a table's topic is the same in every group.
    expect(c.config).toMatchObject({ 'topic.prefix': 'astros_g2', transforms: 'unwrap,route', 'transforms.route.type': 'org.apache.kafka.connect.transforms.RegexRouter' });
    const route = new RegExp(`^${c.config['transforms.route.regex']!}$`);
    expect('astros_g2.public.orders'.replace(route, c.config['transforms.route.replacement']!)).toBe('astros.public.orders');
    expect(route.test('__debezium-heartbeat.astros_g2')).toBe(false);
    expect(c.config['heartbeat.action.query']).toBe(
      `insert into ${pipelineNames.groupHeartbeatTable} (group_name, beat_at) values ('g2', now()) on conflict (group_name) do update set beat_at = excluded.beat_at`,
    );
    expect(c.config).not.toHaveProperty('signal.data.collection');
    expect(groupOfSlot('astros_debezium_g2')).toBe('g2');
    expect(groupOfSlot('astros_debezium')).toBe(DEFAULT_GROUP);
    expect(groupOfSlot('bench_debezium')).toBeUndefined();
    expect(() => groupNames('G-2')).toThrow(/not a group name/);
    expect(() => parseDeclarations([{ source: 'public.a', group: 'Bad' }], 'test')).toThrow(/group: a lower-case letter/);
  });

  it("a new group's publication is created, with its heartbeat table and without the signal table", () => {
    const state: PublicationState = { publication: 'astros_publication_g2', members: new Set(), viaRoot: undefined, cdcRoleExists: false, relations: new Map(), guarded: new Map() };
    const sql = planPublication(state, [table('public.orders')], groupNames('g2')).map((s) => s.sql);
    expect(sql[0]).toBe('create publication astros_publication_g2 with (publish_via_partition_root = true)');
    expect(sql).toContain('alter publication astros_publication_g2 add table "public"."orders"');
    expect(sql).toContain('alter publication astros_publication_g2 add table "public"."cdc_group_heartbeat"');
    expect(sql.join('\n')).not.toMatch(/cdc_signal|cdc_heartbeat"/);
  });

  it('every table belongs to exactly one group; the default group comes first and is always there', () => {
    const tables = parseDeclarations([{ source: 'public.z', group: 'b2' }, { source: 'public.y' }, { source: 'public.x', group: 'a1' }], 'test').map((declaration) => ({ declaration }));
    const g = groupsOf(tables);
    expect([...g.keys()]).toEqual([DEFAULT_GROUP, 'a1', 'b2']);
    expect([...g.values()].flat().length).toBe(tables.length);
    expect([...groupsOf([]).keys()]).toEqual([DEFAULT_GROUP]);
  });

  it("the lag report shows each group's slot, and a lost slot of one group is FAILED with that slot's name", () => {
    const slot = (group: string, found: boolean): GroupLag => ({
      group,
      connector: groupNames(group).connector,
      tables: [`public.t_${group}`],
      currentLsn: '0/9',
      slot: groupNames(group).slot,
      slotFound: found,
      active: found,
      confirmedFlushLsn: found ? '0/9' : null,
      flushLagBytes: found ? 0 : null,
      retainedWalBytes: found ? 10 : null,
      walStatus: found ? 'reserved' : null,
      lastHeartbeat: null,
    });
    const groups = [slot(DEFAULT_GROUP, true), slot('g2', false)];
    const r: LagReport = { at: 'now', postgres: groups[0]!, groups, kafka: [], clickhouse: [] };
    expect(lagFailure(r)).toMatch(/^replication slot astros_debezium_g2 does not exist/);
    const text = formatLagReport(r);
    expect(text.split('\n')[0]).toMatch(/^FAILED: replication slot astros_debezium_g2/);
    expect(text).toContain('group default: public.t_default');
    expect(text).toContain('group g2: public.t_g2');
    expect(text).toContain('slot astros_debezium active');
    expect(text).toContain('slot astros_debezium_g2: NOT FOUND');
  });
});

describe('the monitor with two groups', () => {
  const g2 = groupNames('g2');
  const position = (slot: string, lag: number) => ({ currentLsn: '0/9', slot, slotFound: true, active: true, confirmedFlushLsn: '0/9', flushLagBytes: lag, retainedWalBytes: 64, walStatus: 'reserved', lastHeartbeat: null });
  const groups: GroupLag[] = [
    { ...position(pipelineNames.slot, 10), group: DEFAULT_GROUP, connector: pipelineNames.connector, tables: ['public.a'] },
    { ...position(g2.slot, 20), group: 'g2', connector: g2.connector, tables: ['public.b'] },
  ];
  const tasks = [{ id: 0, state: 'RUNNING' }];
  const snapshot: Snapshot = {
    at: Date.parse('2026-01-01T00:00:00Z'),
    tableStates: [],
    components: { postgres: true, kafka: true, connect: true, registry: true, clickhouse: true, temporal: true },
    lag: { at: '', postgres: groups[0]!, groups, kafka: [], clickhouse: [] },
    slots: [
      { slot: pipelineNames.slot, walStatus: 'reserved', active: true },
      { slot: g2.slot, walStatus: 'reserved', active: true },
    ],
    captureGaps: [],
    slotLimitBytes: null,
    tables: [],
    connector: { name: pipelineNames.connector, state: 'RUNNING', tasks },
    connectors: [
      { name: pipelineNames.connector, state: 'RUNNING', tasks },
      { name: g2.connector, state: 'RUNNING', tasks: [{ id: 0, state: 'FAILED' }] },
    ],
    ingest: { runs: {}, rejects: 0, lastAppliedAt: null, consecutiveFailures: 0, recentWorkflows: [] },
    validations: [],
    recentValidations: [],
    recentDeadLetters: [],
    recentRejects: [],
  };

  it("exports every group's slot lag and connector tasks; a group's missing slot is lost", async () => {
    const m = new MonitorMetrics();
    m.apply(snapshot, 0.5);
    let text = await m.registry.metrics();
    expect(text).toContain(`astros_replication_slot_lag_bytes{slot="${pipelineNames.slot}"} 10`);
    expect(text).toContain(`astros_replication_slot_lag_bytes{slot="${g2.slot}"} 20`);
    expect(text).toContain(`astros_connector_tasks{connector="${g2.connector}",state="FAILED"} 1`);
    expect(text).toContain(`astros_replication_slot_lost{slot="${g2.slot}"} 0`);
    m.apply({ ...snapshot, slots: snapshot.slots.slice(0, 1) }, 0.5);
    text = await m.registry.metrics();
    expect(text).toContain(`astros_replication_slot_lost{slot="${g2.slot}"} 1`);
    expect(text).toContain(`astros_replication_slot_lost{slot="${pipelineNames.slot}"} 0`);
  });

  it("the page shows each group's slot and connector, and names the group's slot that is lost", async () => {
    const history = { points: async () => [], recentAlerts: async () => [] } as unknown as MonitorHistory;
    const render = (s: Snapshot) => renderPage({ cfg: parseConfig({}), snapshot: s, history, firing: [] });
    const fine = await render(snapshot);
    expect(fine).toContain(`slot ${pipelineNames.slot} active, lag 10 B`);
    expect(fine).toContain(`slot ${g2.slot} active, lag 20 B`);
    expect(fine).toContain(`${g2.connector}: RUNNING`);
    const lost = await render({ ...snapshot, slots: [snapshot.slots[0]!, { slot: g2.slot, walStatus: 'lost', active: false }] });
    expect(lost).toMatch(new RegExp(`data-alerts="slot"><strong>Not capturing:</strong> replication slot ${g2.slot} is lost`));
    expect(lost).toContain(`slot ${g2.slot} LOST`);
    expect(lost).not.toContain(`slot ${pipelineNames.slot} LOST`);
  });

  it("each group's own database's slots are read through that database's connection (another server's slot is not missing), once per database", async () => {
    const asked: string[] = [];
    const rowsAt: Record<string, { slot_name: string; wal_status: string; active: boolean; confirmed: string }[]> = {
      'postgres://a@other:5432/shop': [{ slot_name: 'astros_debezium_orders', wal_status: 'reserved', active: true, confirmed: '0/10' }],
      'postgres://a@127.0.0.1:5432/second': [
        { slot_name: 'astros_debezium_b', wal_status: 'lost', active: false, confirmed: '0/20' },
        { slot_name: 'astros_debezium', wal_status: 'reserved', active: true, confirmed: '0/30' },
      ],
    };
    const poolAt = (url: string): Queryable =>
      ({
        query: async () => {
          asked.push(url);
          if (url.includes('down')) throw new Error('connect ECONNREFUSED');
          return { rows: rowsAt[url] ?? [] };
        },
      }) as unknown as Queryable;
    const e = { groupDatabases: { orders: 'postgres://a@other:5432/shop', b: 'postgres://a@127.0.0.1:5432/second', c: 'postgres://a@127.0.0.1:5432/second', d: 'postgres://a@down:5432/x' } };
    // The pipeline's connection already read astros_debezium: not listed twice; a database that does not answer adds nothing.
    expect(await groupDatabaseSlots(e, ['astros_debezium'], poolAt)).toEqual([
      { slot: 'astros_debezium_orders', walStatus: 'reserved', active: true, confirmedFlushLsn: '0/10' },
      { slot: 'astros_debezium_b', walStatus: 'lost', active: false, confirmedFlushLsn: '0/20' },
    ]);
    expect(asked).toEqual(['postgres://a@other:5432/shop', 'postgres://a@127.0.0.1:5432/second', 'postgres://a@down:5432/x']);
    expect(await groupDatabaseSlots({}, [], poolAt)).toEqual([]);
  });
});
