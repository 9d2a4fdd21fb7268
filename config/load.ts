/**
 * The only place that reads the environment: one schema (config/schema.ts)
 * parsed once into one Config, every problem reported at once, without a
 * stack trace (see `loadConfigOrExit`). Every variable is documented in
 * `.env.example`.
 *
 * A tool that works on a native stack of a profile (`--profile dev|test`)
 * parses with that profile: its addresses lie under the environment's.
 * Without one, unset addresses are the dev stack's (the schema's defaults).
 *
 * Workflows never read configuration: they get what they need as arguments,
 * and activities get it through `createActivities(deps)`.
 */
import { durationMs, parseRetention } from '../shared/duration.ts';
import { ConfigError } from '../shared/errors.ts';
import { alertRules, type ResolvedRule } from './alert-rules.ts';
import { cacheDirOf, profileAddresses, profileBackup, profileHosts, profilePasswords, profileSettings, profilePorts, profileVar, stateDirOf, type Ports, type Profile } from './profiles.ts';
import { envSchema, type Env } from './schema.ts';
import { clusterPlan, type ClusterPlan, type ServiceHosts } from './cluster.ts';
import { clickhouseReplicas, type ClickHouseReplica } from './clickhouse-replicas.ts';

/** How long the pipeline keeps what passes through it, in ms (0 = forever): catalog/retention.ts says what each bounds. */
export interface Retention {
  /** `<t>_changelog` rows, by ingested_at. */
  changelogMs: number;
  /** `kafka_errors` rows, by received_at. */
  errorsMs: number;
  /** The captured tables' topics (retention.ms). */
  topicMs: number;
}

export interface BackupSettings {
  /** An absolute directory, or s3://bucket[/prefix]. */
  target: string;
  s3?: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  keep: number;
  /** pg_basebackup's connection (a REPLICATION role); absent: Postgres is not backed up. */
  pgUrl?: string;
  pgBasebackup: string;
}

export interface Config {
  /** The native stack whose addresses were the defaults. */
  profile: Profile;
  databaseUrl: string;
  /** Per table group reading another source database (ASTROS_GROUP_DATABASES): its connection URL; see groupDatabaseUrl. */
  groupDatabases: Record<string, string>;
  databaseSchema: string;
  temporal: { address: string; namespace: string; taskQueue: string; uiUrl: string };
  /** The astronauts feed and how it is fetched (connectors/astronauts-api). */
  source: {
    url: string;
    connectTimeoutMs: number;
    /** Time to the response headers, and the longest silence while the body arrives. */
    responseTimeoutMs: number;
    /** Retries after the first request (0 = a single request). */
    retries: number;
    retryMinDelayMs: number;
    maxBodyBytes: number;
    /** Upper bound on people[]: a larger payload is invalid. */
    maxPeople: number;
  };
  schedule: { id: string; interval: string };
  migrateOnStart: boolean;
  schemaWatch: boolean;
  logLevel: Env['LOG_LEVEL'];
  clickhouseUrl: string;
  /** CLICKHOUSE_CLUSTER, when the ClickHouse objects are generated for a cluster (catalog/cluster-shape.ts). */
  clickhouseCluster?: string;
  /** The ClickHouse hosts of the replica set, ch1 (clickhouseUrl) first (config/clickhouse-replicas.ts); one when no replica is configured. */
  clickhouseReplicas: ClickHouseReplica[];
  /** The replica reads go to first (CLICKHOUSE_PRIMARY). */
  clickhousePrimary: string;
  kafkaBrokers: string[];
  /** Kafka Connect's REST API. */
  connectUrl: string;
  registryUrl: string;
  /** The registry's Confluent-compatible API as ClickHouse reaches it. */
  registryCcompatUrl: string;
  /** ClickHouse consumer group prefix of the catalog's tables. */
  groupPrefix: string;
  /** What setup applies: ClickHouse TTLs and topic retention (0 = forever). */
  retention: Retention;
  /** Partitions of a captured table's topic when its declaration names none (KAFKA_TOPIC_PARTITIONS). */
  topicPartitions: number;
  monitor: {
    host: string;
    port: number;
    intervalMs: number;
    instance: string;
    webhookUrl: string | undefined;
    /** The threshold table with this environment's values. */
    rules: ResolvedRule[];
  };
  /** The native stack of `profile`: its ports, state, downloads and the runtimes it starts. */
  stack: {
    ports: Ports;
    /** Where each service is reached: loopback, or the cluster's hosts (config/cluster.ts). */
    hosts: ServiceHosts;
    /** The cluster profile's hosts, names and addresses (config/cluster.ts), whatever the profile. */
    cluster: ClusterPlan;
    stateDir: string;
    cacheDir: string;
    javaHome: string | undefined;
    python: string;
    uvThreadpoolSize: string | undefined;
    /** Postgres' max_slot_wal_keep_size. */
    walKeepSize: string;
  };
  /** Where backups go and how the worker reaches them (BACKUP_*). */
  backup: BackupSettings;
  /** Benchmarks' own knobs. */
  tools: { pgRecvlogical: string; benchPgUrl: string | undefined };
}

/** The addresses of the pipeline's services (the backup target's among them) and what setup applies: the part of Config the tools that set it up and watch it read. */
export type Endpoints = Pick<Config, 'databaseUrl' | 'groupDatabases' | 'clickhouseUrl' | 'connectUrl' | 'kafkaBrokers' | 'registryUrl' | 'registryCcompatUrl' | 'groupPrefix' | 'retention' | 'topicPartitions' | 'backup' | 'clickhouseCluster' | 'clickhouseReplicas' | 'clickhousePrimary'>;

/** `group=database` (DATABASE_URL with its database swapped) or `group=postgres://…` per group. */
function groupDatabasesOf(databaseUrl: string, text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const at = part.indexOf('=');
    const [group, target] = [part.slice(0, at), part.slice(at + 1)];
    out[group] = target.includes('://') ? target : withDatabase(databaseUrl, target);
  }
  return out;
}

const withDatabase = (url: string, database: string): string => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

/** The connection of a table group's source database: its own (ASTROS_GROUP_DATABASES), else the pipeline's. */
export const groupDatabaseUrl = (e: Pick<Config, 'databaseUrl' | 'groupDatabases'>, group: string): string => e.groupDatabases[group] ?? e.databaseUrl;

/** The name of a group's source database (for what people read). */
export const groupDatabaseName = (e: Pick<Config, 'databaseUrl' | 'groupDatabases'>, group: string): string => decodeURIComponent(new URL(groupDatabaseUrl(e, group)).pathname.slice(1));

/** Where a group's connector reads, when not the pipeline's database: host, port and database name (its credentials stay the CDC role's). */
export function groupSourceOf(e: Pick<Config, 'databaseUrl' | 'groupDatabases'>, group: string): { host: string; port: string; database: string; sameServer: boolean } | undefined {
  const url = e.groupDatabases[group];
  if (url === undefined) return undefined;
  const [mine, main] = [new URL(url), new URL(e.databaseUrl)];
  return { host: mine.hostname, port: mine.port || '5432', database: decodeURIComponent(mine.pathname.slice(1)), sameServer: mine.host === main.host };
}

export interface ParseOptions {
  /** Lay this native stack's addresses under the environment (tools with --profile). */
  profile?: Profile;
}

/** Parse an environment; throws ConfigError listing every problem. Pure without a profile: tests pass their own env. */
export function parseConfig(env: Record<string, string | undefined>, opts: ParseOptions = {}): Config {
  // Empty strings mean "unset" (a blank line copied from .env.example must not fail validation).
  const set = (o: Record<string, string | undefined>) => Object.entries(o).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '');
  const profile = opts.profile ?? 'dev';
  const problems: string[] = [];
  const ports = profilePorts(profile, env, opts.profile ? problems : []);
  const stateDir = stateDirOf(profile, env);
  const passwords = profilePasswords(profile, stateDir);
  const cluster = clusterPlan(env, profile === 'cluster' ? problems : []);
  const hosts = profileHosts(profile, cluster);
  const overlay = opts.profile ? { ...profileAddresses(ports, passwords, hosts), ...profileBackup(ports, passwords, stateDir, hosts), ...profileSettings(profile) } : {};
  const cleaned = Object.fromEntries([...set(overlay).filter(([k]) => k in envSchema.shape), ...set(env)]);
  const result = envSchema.safeParse(cleaned);
  if (!result.success) problems.push(...result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  const replicas = result.success ? clickhouseReplicas(result.data.CLICKHOUSE_URL, result.data.CLICKHOUSE_REPLICA_URLS, result.data.CLICKHOUSE_KAFKA_GROUP_PREFIX, result.data.CLICKHOUSE_PRIMARY, problems) : [];
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  const e = result.data;
  const v = e as Record<string, unknown>;
  return {
    profile,
    databaseUrl: e.DATABASE_URL,
    groupDatabases: groupDatabasesOf(e.DATABASE_URL, e.ASTROS_GROUP_DATABASES),
    databaseSchema: e.DATABASE_SCHEMA,
    temporal: { address: e.TEMPORAL_ADDRESS, namespace: e.TEMPORAL_NAMESPACE, taskQueue: e.TASK_QUEUE, uiUrl: e.TEMPORAL_UI_URL },
    source: {
      url: e.ASTROS_SOURCE_URL,
      connectTimeoutMs: e.ASTROS_HTTP_CONNECT_TIMEOUT_MS,
      responseTimeoutMs: e.ASTROS_HTTP_RESPONSE_TIMEOUT_MS,
      retries: e.ASTROS_HTTP_RETRIES,
      retryMinDelayMs: e.ASTROS_HTTP_RETRY_MIN_DELAY_MS,
      maxBodyBytes: e.ASTROS_HTTP_MAX_BODY_BYTES,
      maxPeople: e.ASTROS_MAX_PEOPLE,
    },
    schedule: { id: e.ASTROS_SCHEDULE_ID, interval: e.ASTROS_SCHEDULE_INTERVAL },
    migrateOnStart: e.ASTROS_MIGRATE_ON_START,
    schemaWatch: e.ASTROS_SCHEMA_WATCH,
    logLevel: e.LOG_LEVEL,
    clickhouseUrl: e.CLICKHOUSE_URL,
    ...(e.CLICKHOUSE_CLUSTER ? { clickhouseCluster: e.CLICKHOUSE_CLUSTER } : {}),
    clickhouseReplicas: replicas,
    clickhousePrimary: e.CLICKHOUSE_PRIMARY,
    kafkaBrokers: e.KAFKA_BROKERS.split(',').map((b) => b.trim()),
    connectUrl: e.CONNECT_URL,
    registryUrl: e.REGISTRY_URL,
    registryCcompatUrl: e.SCHEMA_REGISTRY_CCOMPAT_URL ?? `${e.REGISTRY_URL.replace(/\/$/, '')}/apis/ccompat/v7`,
    groupPrefix: e.CLICKHOUSE_KAFKA_GROUP_PREFIX,
    retention: {
      changelogMs: parseRetention(e.CLICKHOUSE_CHANGELOG_TTL)!,
      errorsMs: parseRetention(e.CLICKHOUSE_KAFKA_ERRORS_TTL)!,
      topicMs: parseRetention(e.KAFKA_TOPIC_RETENTION)!,
    },
    topicPartitions: e.KAFKA_TOPIC_PARTITIONS,
    monitor: {
      host: e.MONITOR_HOST,
      port: e.MONITOR_PORT,
      intervalMs: durationMs(e.MONITOR_INTERVAL)!,
      instance: e.MONITOR_INSTANCE,
      webhookUrl: e.ALERT_WEBHOOK_URL,
      rules: alertRules.map((rule) => {
        const forText = String(v[rule.for.env]);
        return { ...rule, value: Number(v[rule.threshold.env]), forText, forMs: durationMs(forText, { allowZero: true })! };
      }),
    },
    stack: {
      ports,
      hosts,
      cluster,
      stateDir,
      cacheDir: cacheDirOf(env),
      javaHome: e.JAVA_HOME,
      python: e.PYTHON,
      uvThreadpoolSize: e.UV_THREADPOOL_SIZE,
      walKeepSize: String(v[profileVar('PG_MAX_SLOT_WAL_KEEP_SIZE', profile)]),
    },
    backup: {
      target: e.BACKUP_TARGET,
      ...(e.BACKUP_S3_ENDPOINT && e.BACKUP_S3_ACCESS_KEY_ID && e.BACKUP_S3_SECRET_ACCESS_KEY
        ? { s3: { endpoint: e.BACKUP_S3_ENDPOINT, region: e.BACKUP_S3_REGION, accessKeyId: e.BACKUP_S3_ACCESS_KEY_ID, secretAccessKey: e.BACKUP_S3_SECRET_ACCESS_KEY } }
        : {}),
      keep: e.BACKUP_KEEP,
      ...(e.BACKUP_PG_URL ? { pgUrl: e.BACKUP_PG_URL } : {}),
      pgBasebackup: e.PG_BASEBACKUP,
    },
    tools: { pgRecvlogical: e.PG_RECVLOGICAL, benchPgUrl: e.BENCH_PG_URL },
  };
}

const cached = new Map<Profile | undefined, Config>();

/** The process-wide configuration (for a profile's stack, when given), parsed once from process.env. */
export function config(profile?: Profile): Config {
  let c = cached.get(profile);
  if (!c) {
    c = parseConfig(process.env, profile ? { profile } : {});
    cached.set(profile, c);
  }
  return c;
}

/** For entry points: parse once, or print every problem (no stack trace) and exit with status 2. */
export function loadConfigOrExit(profile?: Profile): Config {
  try {
    return config(profile);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee .env.example for every variable and its default.\n`);
      process.exit(2);
    }
    throw err;
  }
}
