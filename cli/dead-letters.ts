/**
 * `astros dead-letters list|replay`: the kept records of the ingest
 * (`ingest_rejects`, activities/dead-letters/replay-rejects.ts) and of the CDC path
 * (`astros.kafka_errors`, activities/dead-letters/replay-kafka-errors.ts), and what was
 * replayed (`dead_letter_replays`). `list --source kafka` also accounts for
 * every offset of each captured topic, so the messages AvroConfluent skips
 * without an error (empty, tombstones) are counted rather than invisible.
 *
 * Reads DATABASE_URL / DATABASE_SCHEMA, CLICKHOUSE_URL, KAFKA_BROKERS,
 * CLICKHOUSE_KAFKA_GROUP_PREFIX, ASTROS_MAX_PEOPLE and the ClickHouse TTLs
 * (config/schema.ts).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { createClickHouse, type ClickHouseClient } from '../connectors/clickhouse/client.ts';
import { kafkaClient, type Kafka } from '../connectors/kafka/client.ts';
import { createPool } from '../connectors/postgres/pool.ts';
import { tableNames } from '../shared/names.ts';
import { rowsKeptMs, tableRetention } from '../catalog/retention.ts';
import { catalogEntries } from '../catalog/store.ts';
import { loadConfigOrExit, type Config } from '../config/load.ts';
import { listKafkaErrors, replayKafkaErrors } from '../activities/dead-letters/replay-kafka-errors.ts';
import { listRejects, replayRejects, type ReplayItem } from '../activities/dead-letters/replay-rejects.ts';
import { accountTopic, describeAccount } from '../activities/dead-letters/topic-accounting.ts';

type Source = 'ingest' | 'kafka';

interface Opts {
  source: Source;
  runKey?: string;
  topic?: string;
  offset?: string[];
  partition?: number;
  limit: number;
  pending?: boolean;
  dryRun?: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function partitionNumber(value: string): number {
  if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError('expected a partition number (digits)');
  return Number(value);
}

function offset(value: string, previous: string[] = []): string[] {
  if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError('expected an offset (digits)');
  return [...previous, value];
}

async function withClients<T>(fn: (c: { cfg: Config; pool: ReturnType<typeof createPool>; ch: ClickHouseClient; kafka: Kafka }) => Promise<T>): Promise<T> {
  const cfg = loadConfigOrExit();
  const pool = createPool(cfg.databaseUrl, { schema: cfg.databaseSchema, max: 2, application: 'astros-ingest' });
  const ch = createClickHouse(cfg.clickhouseUrl, { requestTimeoutMs: 60_000 });
  const kafka = kafkaClient(cfg.kafkaBrokers, 'astros-dead-letters');
  try {
    return await fn({ cfg, pool, ch, kafka });
  } finally {
    await pool.end();
    await ch.close();
  }
}

function printItems(items: ReplayItem[], dryRun: boolean): void {
  for (const i of items) console.log(`${i.outcome.padEnd(13)} ${i.what}: ${i.detail}`);
  const by = new Map<string, number>();
  for (const i of items) by.set(i.outcome, (by.get(i.outcome) ?? 0) + 1);
  const counts = [...by].map(([k, n]) => `${n} ${k}`).join(', ') || 'nothing to replay';
  console.log(`${dryRun ? 'dry run (nothing written): ' : ''}${counts}`);
}

export function buildDeadLettersCommand(): Command {
  const cmd = new Command('dead-letters').description(
    'Kept records that could not go through: ingest_rejects (invalid records and unusable payloads of the ingest) and ' +
      'astros.kafka_errors (CDC messages ClickHouse could not parse). list shows them; replay puts them through again after a fix, ' +
      'idempotently (recorded in dead_letter_replays; a second replay changes nothing).',
  );
  const source = () => new Option('--source <source>', 'ingest (ingest_rejects) or kafka (astros.kafka_errors)').choices(['ingest', 'kafka']).default('ingest');

  cmd
    .command('list')
    .description('List kept records with their reason and whether they were replayed; for kafka, also account for every offset of each captured topic.')
    .addOption(source())
    .option('--run-key <key>', 'ingest: only this run')
    .option('--topic <topic>', 'kafka: only this topic')
    .option('--pending', 'ingest: only records not replayed yet')
    .option('--limit <n>', 'at most n rows', positiveInt, 50)
    .action(async (opts: Opts) =>
      withClients(async ({ cfg, pool, ch, kafka }) => {
        if (opts.source === 'ingest') {
          const rows = await listRejects(pool, { ...(opts.runKey !== undefined ? { runKey: opts.runKey } : {}), limit: opts.limit, pendingOnly: opts.pending === true });
          for (const r of rows) {
            const where = r.record_index === null ? 'whole payload' : `people[${r.record_index}]`;
            const content = r.has_record ? JSON.stringify(r.record) : `${r.raw_text ?? ''}${r.raw_truncated ? ' …(cut)' : ''}`;
            console.log(`${r.reject_id}\trun ${r.run_key}\t${where}\t${r.replayed ?? 'not replayed'}\t${r.reason}\t${content.slice(0, 120)}`);
          }
          console.log(`${rows.length} kept record(s) in ${cfg.databaseSchema}.ingest_rejects${rows.length === opts.limit ? ` (first ${opts.limit}; --limit)` : ''}`);
          return;
        }
        const rows = await listKafkaErrors(ch, opts.topic !== undefined ? { topic: opts.topic } : {}, opts.limit);
        for (const r of rows) console.log(`${r.topic}/${r.partition}/${r.offset}\t${r.bytes} bytes\t${r.received_at}\t${r.error.split('\n')[0]?.slice(0, 160) ?? ''}`);
        console.log(`${rows.length} message(s) in astros.kafka_errors${rows.length === opts.limit ? ` (first ${opts.limit}; --limit)` : ''}`);
        const entries = (await catalogEntries(pool)).filter((e) => e.state === 'active');
        const retention = cfg.retention;
        for (const e of entries) {
          const names = tableNames(e.declaration.source, { groupPrefix: cfg.groupPrefix });
          if (opts.topic !== undefined && names.topic !== opts.topic) continue;
          try {
            for (const a of await accountTopic(ch, kafka, names, 0, rowsKeptMs(tableRetention(e.declaration.retention, retention)))) console.log(describeAccount(a));
          } catch (err) {
            console.log(`${names.topic}: offsets not accounted (${err instanceof Error ? err.message : String(err)})`);
          }
        }
      }),
    );

  cmd
    .command('replay')
    .description(
      'Put kept records through again with the code and settings now running. ingest: records of the latest applied run that now pass the checks are inserted ' +
        '(older runs are superseded by the snapshots since); unusable payloads are applied as their own snapshot unless a newer one exists. ' +
        'kafka: the kept bytes are produced again to their topic and partition. Every outcome is recorded; records that still fail are only reported.',
    )
    .addOption(source())
    .option('--run-key <key>', 'ingest: only this run')
    .option('--topic <topic>', 'kafka: only this topic')
    .option('--offset <offset>', 'kafka: only this offset (repeatable; with --topic)', offset)
    .option('--partition <n>', "kafka: only this partition (with --topic; an offset is one partition's)", partitionNumber)
    .option('--dry-run', 'say what would be replayed; write nothing')
    .action(async (opts: Opts) =>
      withClients(async ({ cfg, pool, ch, kafka }) => {
        const dryRun = opts.dryRun === true;
        if ((opts.offset !== undefined || opts.partition !== undefined) && opts.topic === undefined) throw new InvalidArgumentError('--offset and --partition need --topic');
        const items =
          opts.source === 'ingest'
            ? await replayRejects(pool, { dryRun, maxPeople: cfg.source.maxPeople, ...(opts.runKey !== undefined ? { runKey: opts.runKey } : {}) })
            : await replayKafkaErrors({ ch, kafka, pool }, { dryRun, ...(opts.topic !== undefined ? { topic: opts.topic } : {}), ...(opts.offset !== undefined ? { offsets: opts.offset } : {}), ...(opts.partition !== undefined ? { partition: opts.partition } : {}) });
        printItems(items, dryRun);
      }),
    );
  return cmd;
}
