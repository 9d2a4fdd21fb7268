/**
 * The pipeline's position, read at backup time and stored in the manifest:
 * per captured table its consumer group's committed Kafka offsets (read
 * BEFORE ClickHouse is backed up: the Kafka engine commits only after a
 * block is written, so everything before these offsets is in the backup,
 * and a restore that rewinds to them reads again only what may be missing;
 * the LSN version absorbs the overlap), per replication slot its confirmed
 * LSN (a group reading its own database: its slot there), the live catalog's rows, and the registry's schemas.
 */
import { catalogEntries, isCaptured } from '../../catalog/store.ts';
import type { Endpoints } from '../../config/load.ts';
import { namesOf } from '../../connectors/clickhouse/backup.ts';
import { withAdmin, type Kafka } from '../../connectors/kafka/client.ts';
import type { Queryable } from '../../connectors/postgres/pool.ts';
import { groupDatabaseSlots } from '../../connectors/postgres/sources.ts';
import type { SchemaRegistry } from '../../connectors/registry/client.ts';
import { pipelineNames } from '../../shared/names.ts';
import type { Manifest, TablePosition } from './manifest.ts';

/** Every captured table with its group's committed offsets (newestLsn filled in later, from the backup). */
export async function streamPosition(pool: Queryable, kafka: Kafka, e: Pick<Endpoints, 'groupPrefix'>): Promise<TablePosition[]> {
  const sources = (await catalogEntries(pool)).filter((x) => isCaptured(x.state)).map((x) => x.declaration.source);
  return withAdmin(kafka, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const out: TablePosition[] = [];
    for (const source of sources) {
      const n = namesOf(source, e.groupPrefix);
      const offsets = existing.has(n.topic)
        ? ((await admin.fetchOffsets({ groupId: n.group, topics: [n.topic] }))[0]?.partitions ?? []).map((p) => ({ partition: p.partition, offset: p.offset }))
        : [];
      out.push({ source, topic: n.topic, group: n.group, newestLsn: '0', offsets });
    }
    return out;
  });
}

/** Every slot of the pipeline's server, and each group's slot in its own source database (read through its connection). */
export async function slots(pool: Queryable, e: Partial<Pick<Endpoints, 'groupDatabases'>> = {}): Promise<Manifest['position']['slots']> {
  const { rows } = await pool.query<{ slot_name: string; confirmed_flush_lsn: string | null; wal_status: string | null }>(
    'select slot_name, confirmed_flush_lsn::text, wal_status from pg_replication_slots order by slot_name',
  );
  const elsewhere = await groupDatabaseSlots(e, rows.map((r) => r.slot_name));
  return [
    ...rows.map((r) => ({ slot: r.slot_name, confirmedFlushLsn: r.confirmed_flush_lsn, walStatus: r.wal_status })),
    ...elsewhere.map((r) => ({ slot: r.slot, confirmedFlushLsn: r.confirmedFlushLsn, walStatus: r.walStatus })),
  ];
}

export async function catalogRows(pool: Queryable): Promise<Record<string, unknown>[]> {
  return (await pool.query<Record<string, unknown>>(`select * from ${pipelineNames.catalogTable} order by source`)).rows;
}

/** Stored schemas whose id the registry now resolves to something else (or not at all): ClickHouse reads messages by id. */
export async function schemaDifferences(registry: SchemaRegistry, stored: Manifest['position']['schemas']): Promise<string[]> {
  const out: string[] = [];
  for (const id of [...new Set(stored.map((s) => s.id))]) {
    const want = stored.find((s) => s.id === id)!;
    const got = await registry.schemaById(id);
    if (got === undefined) out.push(`schema id ${id} (${want.subject} v${want.version}) is not in the registry`);
    else if (JSON.stringify(JSON.parse(got)) !== JSON.stringify(JSON.parse(want.schema))) out.push(`schema id ${id} (${want.subject} v${want.version}) differs in the registry`);
  }
  return out;
}
