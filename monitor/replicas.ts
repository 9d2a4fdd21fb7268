/**
 * The monitor's view of a ClickHouse replica set (CLICKHOUSE_REPLICA_URLS):
 * each sample asks every replica whether it answers, reads from the primary
 * (CLICKHOUSE_PRIMARY) or, when it does not answer, the next that does, and
 * measures every replica's own consumer groups' lag (each host consumes every
 * topic in groups of its own: shared/names.ts replicaGroupPrefix).
 */
import { readOrder, type ClickHouseReplica } from '../config/clickhouse-replicas.ts';
import type { Config } from '../config/load.ts';
import { lagTables } from '../activities/lag-report.ts';
import { createClickHouse, type ClickHouseClient } from '../connectors/clickhouse/client.ts';
import { withAdmin, type Kafka } from '../connectors/kafka/client.ts';
import { behind, committedOffsets, topicEnds } from '../connectors/kafka/offsets.ts';
import { replicaAnswers } from '../connectors/clickhouse/replicas.ts';
import type { Queryable } from '../connectors/postgres/pool.ts';

export interface ReplicaSample {
  replica: string;
  url: string;
  up: boolean;
  /** Whether this sample's reads went to it. */
  reads: boolean;
  /** Its consumer groups' lag per topic (messages not committed); empty when Kafka or Postgres did not answer. */
  kafka: { topic: string; group: string; lag: number }[];
}

export class ReplicaClients {
  private readonly clients = new Map<string, ClickHouseClient>();

  constructor(private readonly cfg: Pick<Config, 'clickhouseReplicas' | 'clickhousePrimary'>) {
    for (const r of cfg.clickhouseReplicas) this.clients.set(r.name, createClickHouse(r.url, { requestTimeoutMs: 20_000 }));
  }

  client(r: ClickHouseReplica): ClickHouseClient {
    return this.clients.get(r.name)!;
  }

  /** Which replicas answer now, and the one reads go to (the primary when none answers: its errors are what the sample shows). */
  async probe(): Promise<{ reader: ClickHouseReplica; up: Map<string, boolean> }> {
    const replicas = this.cfg.clickhouseReplicas;
    // One host: no probe (the sample's own ping says whether it answers), as before replica sets.
    if (replicas.length === 1) return { reader: replicas[0]!, up: new Map([[replicas[0]!.name, true]]) };
    const up = new Map(await Promise.all(replicas.map(async (r) => [r.name, await replicaAnswers(r.url)] as const)));
    const order = readOrder(replicas, this.cfg.clickhousePrimary);
    return { reader: order.find((r) => up.get(r.name)) ?? order[0]!, up };
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close()));
  }
}

/** Every replica's state and its consumer groups' lag (one host configured: none). */
export async function replicaSamples(cfg: Pick<Config, 'clickhouseReplicas'>, probe: { reader: ClickHouseReplica; up: Map<string, boolean> }, db: Queryable, kafka: Kafka): Promise<ReplicaSample[] | undefined> {
  if (cfg.clickhouseReplicas.length === 1) return undefined;
  const out: ReplicaSample[] = [];
  for (const r of cfg.clickhouseReplicas) {
    const lag = await lagTables(db, r.groupPrefix)
      .then((tables) =>
        withAdmin(kafka, async (admin) => {
          const existing = new Set(await admin.listTopics());
          const rows: ReplicaSample['kafka'] = [];
          for (const t of tables.filter((x) => existing.has(x.topic))) {
            const b = behind(await topicEnds(admin, t.topic), await committedOffsets(admin, t.group, t.topic));
            rows.push({ topic: t.topic, group: t.group, lag: Number(b.pending) });
          }
          return rows;
        }),
      )
      .catch(() => []);
    out.push({ replica: r.name, url: r.url, up: probe.up.get(r.name) ?? false, reads: r.name === probe.reader.name, kafka: lag });
  }
  return out;
}
