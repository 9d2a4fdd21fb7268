/**
 * Bring a running stack to a working pipeline, idempotently:
 *   1. Postgres migrations (shared tables, the live catalog public.captured_tables)
 *   2. the catalog: catalog/tables.ts synced into public.captured_tables, plus
 *      any declarations the caller adds (tests declare their own tables)
 *   3. from the active declarations and the Postgres catalog: publication
 *      membership, replica identity, grants, the topics
 *   4. ClickHouse: shared objects (numbered clickhouse-ddl migrations), then
 *      every table's objects reconciled from the catalog
 *   5. the Debezium connector registered through Kafka Connect's REST API with
 *      debezium/register.sh (curl), its table list from the catalog
 * Used by the quickstart, docker-compose's setup job and the tests' global setup.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { Kafka, logLevel, type ConfigResourceTypes } from 'kafkajs';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrateClickHouse, ddlVars } from '../clickhouse-ddl/migrate.ts';
import { migrate as migratePostgres } from '../db/migrate.ts';
import { connectorFileText, connectorFile, type ConnectorSpec } from '../catalog/connector.ts';
import type { TableDeclarationInput } from '../catalog/declaration.ts';
import { capturedTables, connectorConfig, deriveOptions, flowingTables, reconcileClickHouse, SHARED_PLAN, syncPostgres, type CapturedTable } from '../catalog/pipeline.ts';
import { topicRetentionMs, topicRetentionUpdate } from '../catalog/retention.ts';
import { formatRetention } from '../shared/duration.ts';
import { declareTable, syncRepositoryTables } from '../catalog/store.ts';
import { repositoryTables } from '../catalog/tables.ts';
import type { Endpoints } from '../config/load.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function registerConnector(connectUrl: string, file = connectorFile, log: (m: string) => void = console.log): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(root, 'debezium', 'register.sh'), file], {
      env: { ...process.env, CONNECT_URL: connectUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of d.toString().split('\n')) if (line.trim()) log(`[connector] ${line.trim()}`);
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`registering the Debezium connector failed:\n${out.trim()}`))));
  });
}

/** Register a connector config that exists only in memory (derived from the live catalog). */
export async function registerConnectorSpec(connectUrl: string, spec: ConnectorSpec, log: (m: string) => void = console.log): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'astros-connector-'));
  const file = path.join(dir, `${spec.name}.json`);
  fs.writeFileSync(file, connectorFileText(spec));
  try {
    await registerConnector(connectUrl, file, log);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** ConfigResourceTypes.TOPIC (not an ESM named export of kafkajs' CommonJS build). */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;

export interface TopicSpec {
  topic: string;
  /** retention.ms to keep on the topic (0: forever). */
  retentionMs: number;
}

/**
 * Create the captured tables' topics before ClickHouse subscribes, so its
 * consumers get their partitions now rather than after the first change
 * (an empty table produces no topic until it changes), and give every one
 * its retention.ms: at creation, and on a topic that exists (made by an
 * earlier setup, or by the broker when Debezium first wrote to it) whenever
 * it differs. Returns what changed (or, with dryRun, would change).
 */
export async function ensureTopics(brokers: string[], topics: TopicSpec[], log: (m: string) => void, dryRun = false): Promise<string[]> {
  const kafka = new Kafka({ clientId: 'astros-setup', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const changes: string[] = [];
  const say = (m: string) => {
    changes.push(m);
    log(`[kafka] ${dryRun ? 'would ' : ''}${m}`);
  };
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      if (!dryRun) {
        await admin.createTopics({
          topics: missing.map((t) => ({ topic: t.topic, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: topicRetentionMs(t.retentionMs) }] })),
          waitForLeaders: true,
        });
      }
      for (const t of missing) say(`create topic ${t.topic} (retention ${formatRetention(t.retentionMs)})`);
    }
    const present = topics.filter((t) => existing.has(t.topic));
    if (present.length > 0) {
      const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: present.map((t) => ({ type: TOPIC_RESOURCE, name: t.topic })) });
      const alter = present.flatMap((t) => {
        const described = resources.find((r) => r.resourceName === t.topic);
        if (!described || described.errorCode !== 0) throw new Error(`describing topic ${t.topic} failed: ${described?.errorMessage ?? 'no answer'}`);
        const u = topicRetentionUpdate(described.configEntries, t.retentionMs);
        if (!u) return [];
        say(`${t.topic}: retention.ms ${u.from} -> ${u.to} (${formatRetention(t.retentionMs)})`);
        return [{ type: TOPIC_RESOURCE, name: t.topic, configEntries: u.entries }];
      });
      if (alter.length > 0 && !dryRun) await admin.alterConfigs({ validateOnly: false, resources: alter });
    }
  } finally {
    await admin.disconnect();
  }
  return changes;
}

/** Each captured table's topic with its retention (the table's own, else the pipeline's). */
export function topicSpecs(tables: CapturedTable[]): TopicSpec[] {
  return tables.map((t) => ({ topic: t.objects.names.topic, retentionMs: t.objects.retention.topicMs }));
}

/** Wait until the captured tables' Kafka-engine consumers have their partitions (bounded). */
async function waitForConsumers(ch: ClickHouseClient, queues: string[], log: (m: string) => void, timeoutMs = 150_000): Promise<void> {
  const started = Date.now();
  let said = false;
  for (;;) {
    const rs = await ch.query({
      query: `SELECT t.database || '.' || t.name AS name, countIf(length(c.assignments.topic) > 0) AS assigned
              FROM system.tables AS t LEFT JOIN system.kafka_consumers AS c ON c.database = t.database AND c.table = t.name
              WHERE t.engine = 'Kafka' AND (t.database || '.' || t.name) IN {queues:Array(String)} GROUP BY name`,
      query_params: { queues },
      format: 'JSONEachRow',
    });
    const waiting = (await rs.json<{ name: string; assigned: string }>()).filter((r) => Number(r.assigned) === 0).map((r) => r.name);
    if (waiting.length === 0) {
      if (said) log(`[clickhouse] Kafka consumers assigned after ${((Date.now() - started) / 1000).toFixed(0)} s`);
      return;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`ClickHouse Kafka consumers of ${waiting.join(', ')} got no partitions within ${timeoutMs / 1000} s (see system.kafka_consumers.exceptions)`);
    }
    if (!said) {
      log(`[clickhouse] waiting for the Kafka consumers of ${waiting.join(', ')} to join their groups (a recreated consumer waits for its predecessor's session to expire, about 6 s)`);
      said = true;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export interface SetupOptions {
  /** Declarations to add to the live catalog before deriving (tests declare their own tables). */
  declare?: TableDeclarationInput[];
  log?: (m: string) => void;
}

export async function setupPipeline(env: Endpoints, opts: SetupOptions = {}): Promise<void> {
  const log = opts.log ?? console.log;
  const pgm = await migratePostgres({ databaseUrl: env.databaseUrl, log: (m) => log(`[postgres] ${m}`) });
  log(`[postgres] migrations: ${pgm.applied.length} applied, ${pgm.alreadyApplied.length} already applied`);
  const db = new pg.Client({ connectionString: env.databaseUrl, application_name: 'astros-setup' });
  await db.connect();
  const ch = createClient({ url: env.clickhouseUrl, request_timeout: 60_000, log: { level: ClickHouseLogLevel.OFF } });
  try {
    const synced = await syncRepositoryTables(db, repositoryTables);
    for (const s of synced.removed) log(`[catalog] ${s}: no longer in catalog/tables.ts, marked removed`);
    for (const d of opts.declare ?? []) await declareTable(db, d, 'test');
    const r = await migrateClickHouse(ch, { vars: ddlVars(), log: (m) => log(`[clickhouse] ${m}`) });
    log(`[clickhouse] migrations: ${r.applied.length} applied, ${r.skipped.length} already applied`);
    await applyCatalog(env, db, ch, log);
  } finally {
    await ch.close();
    await db.end();
  }
}

/**
 * Steps 3-5 for the live catalog's captured tables as they are now: what
 * setup does after the migrations, and what `astros tables add|remove` runs
 * after changing the catalog. Registering the connector with a changed table
 * list restarts its task: the only pause the other tables see.
 */
export async function applyCatalog(env: Endpoints, db: pg.Client | pg.Pool, ch: ClickHouseClient, log: (m: string) => void): Promise<void> {
  const tables = await capturedTables(db, deriveOptions(env), (m) => log(`[catalog] ${m}`));
  log(`[catalog] capturing ${tables.map((t) => t.declaration.source).join(', ')}`);
  const flowing = flowingTables(tables, (m) => log(`[catalog] ${m}`));
  await syncPostgres(db, tables, (m) => log(`[postgres] ${m}`));
  await ensureTopics(env.kafkaBrokers, topicSpecs(tables), log);
  const plans = (await reconcileClickHouse(ch, flowing, (m) => log(`[clickhouse] ${m}`))).filter((p) => p.table !== SHARED_PLAN);
  const changed = plans.filter((p) => p.actions.some((a) => a.kind !== 'drift')).length;
  log(`[clickhouse] catalog objects: ${plans.length - changed} table(s) up to date, ${changed} changed`);
  await registerConnectorSpec(env.connectUrl, connectorConfig(tables), log);
  await waitForConsumers(
    ch,
    flowing.map((t) => t.objects.names.queue),
    log,
  );
}

async function main(): Promise<void> {
  const { Command, Option } = await import('commander');
  const program = new Command('setup')
    .description(
      'Make a running stack a working pipeline (idempotent): Postgres migrations and publication, ClickHouse DDL, ' +
        'the catalog (catalog/tables.ts) applied: publication, ClickHouse objects, the connector\'s tables; Debezium connector registered through Kafka Connect. Addresses come from the native stack of --profile; ' +
        'DATABASE_URL, CLICKHOUSE_URL, CONNECT_URL, KAFKA_BROKERS, REGISTRY_URL override them (docker-compose sets these).',
    )
    .addOption(new Option('-p, --profile <profile>', 'native stack whose addresses to use').choices(['dev', 'test']).default('dev'))
    .parse();
  const { profile } = program.opts<{ profile: 'dev' | 'test' }>();
  const { loadConfigOrExit } = await import('../config/load.ts');
  await setupPipeline(loadConfigOrExit(profile));
  console.log('pipeline ready: Postgres -> Debezium -> Kafka -> ClickHouse');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((err: unknown) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
