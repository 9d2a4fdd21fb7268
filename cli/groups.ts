/**
 * astros groups list [--json]: each table group (shared/names.ts groupNames) with
 * its replication slot (active, bytes behind the server's WAL, wal_status), its
 * connector's state, its last heartbeat, the Kafka messages its tables' consumers
 * still have to read, and its tables. A group is made by `astros tables add
 * <table> --group <name>` and retired when its last table is removed.
 */
import { Command } from 'commander';
import { groupFailure, lagReport } from '../activities/lag-report.ts';
import { loadConfigOrExit, type Endpoints } from '../config/load.ts';
import { createClickHouse } from '../connectors/clickhouse/client.ts';
import { kafkaClient } from '../connectors/kafka/client.ts';
import { KafkaConnect } from '../connectors/kafka-connect/client.ts';
import { withPostgres } from '../connectors/postgres/pool.ts';
import { tableNames } from '../shared/names.ts';

export interface GroupRow {
  group: string;
  /** The source database the group's connector reads (ASTROS_GROUP_DATABASES, else the pipeline's). */
  database: string;
  slot: string;
  /** active / INACTIVE / NOT FOUND, and wal_status. */
  slotState: string;
  /** WAL the connector has not confirmed (bytes); null without a slot. */
  slotLagBytes: number | null;
  connector: string;
  connectorState: string;
  lastHeartbeat: string | null;
  /** Messages of the group's topics the ClickHouse consumers have not read. */
  kafkaLag: number;
  tables: string[];
  /** The slot is lost or missing: the one-line fix. */
  failure?: string;
}

export async function groupRows(e: Endpoints): Promise<GroupRow[]> {
  const ch = createClickHouse(e.clickhouseUrl, { requestTimeoutMs: 30_000 });
  const connect = new KafkaConnect(e.connectUrl);
  try {
    const report = await withPostgres(e.databaseUrl, 'astros-groups', (db) => lagReport({ db, kafka: kafkaClient(e.kafkaBrokers, 'astros-groups'), clickhouse: ch }, { groupPrefix: e.groupPrefix, groupDatabases: e.groupDatabases, ...(e.clickhouseCluster ? { clickhouseCluster: e.clickhouseCluster } : {}) }));
    const rows: GroupRow[] = [];
    for (const g of report.groups ?? []) {
      const topics = new Set(g.tables.map((t) => tableNames(t).topic));
      const status = await connect.status(g.connector, 5_000).catch(() => undefined);
      const failure = groupFailure(g);
      rows.push({
        group: g.group,
        database: g.database ?? new URL(e.databaseUrl).pathname.slice(1),
        slot: g.slot,
        slotState: g.slotFound ? `${g.active ? 'active' : 'INACTIVE'}, ${g.walStatus}` : 'NOT FOUND',
        slotLagBytes: g.flushLagBytes,
        connector: g.connector,
        connectorState: status ? `${status.connector.state}${status.tasks.length ? ` (tasks ${status.tasks.map((t) => t.state).join(', ')})` : ''}` : 'NOT REGISTERED',
        lastHeartbeat: g.lastHeartbeat,
        kafkaLag: report.kafka.filter((k) => topics.has(k.topic)).reduce((n, k) => n + k.lag, 0),
        tables: g.tables,
        ...(failure ? { failure } : {}),
      });
    }
    return rows;
  } finally {
    await ch.close();
  }
}

export function buildGroupsCommand(): Command {
  const groups = new Command('groups').description('Table groups: a publication, replication slot and connector each (astros tables add <table> --group <name> makes one).');
  groups
    .command('list')
    .description("Each group's slot (state, bytes behind), connector state, last heartbeat, Kafka lag of its tables, and its tables.")
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const rows = await groupRows(loadConfigOrExit());
      if (o.json) return console.log(JSON.stringify(rows, null, 2));
      for (const r of rows) {
        if (r.failure) console.log(`FAILED: ${r.failure}`);
        console.log(`group ${r.group} (database ${r.database}): ${r.tables.length} table(s): ${r.tables.join(', ') || '-'}`);
        console.log(`  slot ${r.slot}: ${r.slotState}, ${r.slotLagBytes ?? 'n/a'} bytes behind; last heartbeat ${r.lastHeartbeat ?? 'never'}`);
        console.log(`  connector ${r.connector}: ${r.connectorState}; kafka lag ${r.kafkaLag} msg`);
      }
    });
  return groups;
}
