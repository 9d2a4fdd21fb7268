/**
 * The pipeline's position, read at backup time and stored in the manifest:
 * per captured table its consumer group's committed Kafka offsets (read
 * BEFORE ClickHouse is backed up: the Kafka engine commits only after a
 * block is written, so everything before these offsets is in the backup,
 * and a restore that rewinds to them reads again only what may be missing;
 * the LSN version absorbs the overlap), per replication slot its confirmed
 * LSN, the live catalog's rows, and the registry's schemas.
 */
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import { pipelineNames } from '../../catalog/names.ts';
import { catalogEntries, isCaptured } from '../../catalog/store.ts';
import type { Endpoints } from '../../config/env.ts';
import { namesOf } from './clickhouse.ts';
import type { Manifest, TablePosition } from './manifest.ts';

export function kafkaAdmin(brokers: string) {
  return new Kafka({ clientId: 'astros-backup', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
}

/** Every captured table with its group's committed offsets (newestLsn filled in later, from the backup). */
export async function streamPosition(pool: pg.Pool, e: Endpoints): Promise<TablePosition[]> {
  const sources = (await catalogEntries(pool)).filter((x) => isCaptured(x.state)).map((x) => x.declaration.source);
  const admin = kafkaAdmin(e.kafkaBrokers);
  await admin.connect();
  try {
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
  } finally {
    await admin.disconnect();
  }
}

export async function slots(pool: pg.Pool): Promise<Manifest['position']['slots']> {
  const { rows } = await pool.query<{ slot_name: string; confirmed_flush_lsn: string | null; wal_status: string | null }>(
    'select slot_name, confirmed_flush_lsn::text, wal_status from pg_replication_slots order by slot_name',
  );
  return rows.map((r) => ({ slot: r.slot_name, confirmedFlushLsn: r.confirmed_flush_lsn, walStatus: r.wal_status }));
}

export async function catalogRows(pool: pg.Pool): Promise<Record<string, unknown>[]> {
  return (await pool.query<Record<string, unknown>>(`select * from ${pipelineNames.catalogTable} order by source`)).rows;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** Every version of every subject in the registry (Confluent-compatible API). */
export async function registrySchemas(ccompatUrl: string): Promise<Manifest['position']['schemas']> {
  const base = ccompatUrl.replace(/\/+$/, '');
  const out: Manifest['position']['schemas'] = [];
  for (const subject of await getJson<string[]>(`${base}/subjects`)) {
    const s = encodeURIComponent(subject);
    for (const version of await getJson<number[]>(`${base}/subjects/${s}/versions`)) {
      const v = await getJson<{ id: number; schema: string }>(`${base}/subjects/${s}/versions/${version}`);
      out.push({ subject, version, id: v.id, schema: v.schema });
    }
  }
  return out;
}

/** Stored schemas whose id the registry now resolves to something else (or not at all): ClickHouse reads messages by id. */
export async function schemaDifferences(ccompatUrl: string, stored: Manifest['position']['schemas']): Promise<string[]> {
  const base = ccompatUrl.replace(/\/+$/, '');
  const out: string[] = [];
  for (const id of [...new Set(stored.map((s) => s.id))]) {
    const want = stored.find((s) => s.id === id)!;
    const got = await getJson<{ schema: string }>(`${base}/schemas/ids/${id}`).catch(() => undefined);
    if (!got) out.push(`schema id ${id} (${want.subject} v${want.version}) is not in the registry`);
    else if (JSON.stringify(JSON.parse(got.schema)) !== JSON.stringify(JSON.parse(want.schema))) out.push(`schema id ${id} (${want.subject} v${want.version}) differs in the registry`);
  }
  return out;
}
