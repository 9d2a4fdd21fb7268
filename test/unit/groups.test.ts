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
import { DEFAULT_GROUP, groupNames, groupOfSlot, pipelineNames } from '../../shared/names.ts';

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
