/**
 * Bring a running stack to a working pipeline, idempotently: Postgres
 * migrations (tables + publication), ClickHouse DDL (Kafka engine tables,
 * materialized views, targets), and the Debezium connector registered
 * through Kafka Connect's REST API with debezium/register.sh (curl).
 * Used by the quickstart and by the integration tests' global setup.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { Kafka, logLevel } from 'kafkajs';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrateClickHouse, ddlVars } from '../clickhouse-ddl/migrate.ts';
import { migrate as migratePostgres } from '../db/migrate.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface PipelineEnv {
  DATABASE_URL: string;
  CLICKHOUSE_URL: string;
  CONNECT_URL: string;
  KAFKA_BROKERS: string;
  REGISTRY_URL: string;
}

export function registerConnector(connectUrl: string, file = path.join(root, 'debezium', 'astros-postgres.json'), log: (m: string) => void = console.log): Promise<void> {
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

/** The topics the connector writes for the tables it names literally (regex entries are left to Debezium). */
export function connectorTopics(file = path.join(root, 'debezium', 'astros-postgres.json')): string[] {
  const { config } = JSON.parse(fs.readFileSync(file, 'utf8')) as { config: Record<string, string> };
  const prefix = config['topic.prefix'];
  return (config['table.include.list'] ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => /^[\w]+\.[\w]+$/.test(t))
    .map((t) => `${prefix}.${t}`);
}

/**
 * Create the captured tables' topics before ClickHouse subscribes, so its
 * consumers get their partitions now rather than after the first change
 * (an empty table produces no topic until it changes).
 */
async function ensureTopics(brokers: string, topics: string[], log: (m: string) => void): Promise<void> {
  const kafka = new Kafka({ clientId: 'astros-setup', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
      log(`[kafka] created topics ${missing.join(', ')}`);
    }
  } finally {
    await admin.disconnect();
  }
}

/** Wait until every Kafka-engine table's consumer has its partitions (bounded). */
async function waitForConsumers(ch: ClickHouseClient, log: (m: string) => void, timeoutMs = 150_000): Promise<void> {
  const started = Date.now();
  let said = false;
  for (;;) {
    const rs = await ch.query({
      query: `SELECT t.database || '.' || t.name AS name, countIf(length(c.assignments.topic) > 0) AS assigned
              FROM system.tables AS t LEFT JOIN system.kafka_consumers AS c ON c.database = t.database AND c.table = t.name
              WHERE t.engine = 'Kafka' GROUP BY name`,
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
      log(`[clickhouse] waiting for the Kafka consumers of ${waiting.join(', ')} to join their groups (a recreated consumer waits for a rebalance, up to ~45 s)`);
      said = true;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export async function setupPipeline(env: PipelineEnv, log: (m: string) => void = console.log): Promise<void> {
  const pg = await migratePostgres({ databaseUrl: env.DATABASE_URL, log: (m) => log(`[postgres] ${m}`) });
  log(`[postgres] migrations: ${pg.applied.length} applied, ${pg.alreadyApplied.length} already applied`);
  await ensureTopics(env.KAFKA_BROKERS, connectorTopics(), log);
  const ch = createClient({ url: env.CLICKHOUSE_URL, request_timeout: 60_000, log: { level: ClickHouseLogLevel.OFF } });
  try {
    const r = await migrateClickHouse(ch, { vars: ddlVars(env as unknown as NodeJS.ProcessEnv), log: (m) => log(`[clickhouse] ${m}`) });
    log(`[clickhouse] migrations: ${r.applied.length} applied, ${r.skipped.length} already applied`);
    await registerConnector(env.CONNECT_URL, undefined, log);
    await waitForConsumers(ch, log);
  } finally {
    await ch.close();
  }
}

async function main(): Promise<void> {
  const { Command, Option } = await import('commander');
  const { createContext } = await import('../stack/lib/context.ts');
  const { stackEnv } = await import('../stack/lib/endpoints.ts');
  const program = new Command('setup')
    .description(
      'Make a running stack a working pipeline (idempotent): Postgres migrations and publication, ClickHouse DDL, ' +
        'Debezium connector registered through Kafka Connect. Addresses come from the native stack of --profile; ' +
        'DATABASE_URL, CLICKHOUSE_URL, CONNECT_URL, KAFKA_BROKERS, REGISTRY_URL override them (docker-compose sets these).',
    )
    .addOption(new Option('-p, --profile <profile>', 'native stack whose addresses to use').choices(['dev', 'test']).default('dev'))
    .parse();
  const { profile } = program.opts<{ profile: 'dev' | 'test' }>();
  const stack = stackEnv(createContext(profile));
  const pick = (k: keyof PipelineEnv) => process.env[k] ?? stack[k];
  await setupPipeline({
    DATABASE_URL: pick('DATABASE_URL'),
    CLICKHOUSE_URL: pick('CLICKHOUSE_URL'),
    CONNECT_URL: pick('CONNECT_URL'),
    KAFKA_BROKERS: pick('KAFKA_BROKERS'),
    REGISTRY_URL: pick('REGISTRY_URL'),
  });
  console.log('pipeline ready: Postgres -> Debezium -> Kafka -> ClickHouse');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((err: unknown) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
