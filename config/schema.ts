/**
 * Every variable the worker, the CLIs, the monitor and the native stack read:
 * one zod schema, the table of tunables (name, default, meaning). Parsed once
 * into one Config by config/load.ts. The addresses default to the dev
 * profile's stack (config/profiles.ts); every variable is in .env.example.
 */
import path from 'node:path';
import { z } from 'zod';
import { durationMs, parseRetention, retentionHint } from '../shared/duration.ts';
import { activityLimits, INGEST_SCHEDULE_ID, INGEST_TASK_QUEUE } from '../shared/workflows.ts';
import { alertRules } from './alert-rules.ts';
import { repoRoot } from './paths.ts';
import { defaultPorts, devPasswords, portEnv, profileAddresses } from './profiles.ts';

export const DEFAULT_SOURCE_URL = 'http://api.open-notify.org/astros.json';

/** The dev profile's addresses: what an unset address means. */
const dev = profileAddresses(defaultPorts.dev, devPasswords);

/** A duration like `30s`, `5m`, `1h`, `500ms` (the format Temporal's client accepts). */
const duration = z
  .string()
  .trim()
  .regex(/^[1-9][0-9]*(ms|s|m|h|d)$/, 'expected a duration such as 30s, 5m, 1h');

const durationOrZero = z
  .string()
  .trim()
  .refine((v) => durationMs(v, { allowZero: true }) !== undefined, 'expected a duration such as 0s, 30s, 5m, 1h');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

/** How long to keep something: `30d`, `12h`, `90m`, `3600s`, or `0` / `forever`. */
const retention = z
  .string()
  .trim()
  .refine((v) => parseRetention(v) !== undefined, retentionHint);

const hostPort = /^[^:\s/]+:[0-9]{1,5}$/;
const optional = z.string().optional();

/** A port variable of the native stack (read by config/profiles.ts, which checks it), and its test profile's. */
const portVariables = Object.fromEntries(Object.values(portEnv).filter((n) => n !== 'MONITOR_PORT').flatMap((n) => [[n, optional], [`TEST_${n}`, optional]]));

/**
 * Variables named by a table rather than written out: each alert's threshold and duration
 * (config/alert-rules.ts), and the native stack's port overrides (checked by config/profiles.ts).
 * Read by name (config/load.ts), so the typed part of the schema leaves them out.
 */
const namedByTables: Record<string, z.ZodType> = {
  ...Object.fromEntries(
    alertRules.flatMap((r) => [
      [r.threshold.env, z.coerce.number().finite().default(r.threshold.default)],
      [r.for.env, durationOrZero.default(r.for.default)],
    ]),
  ),
  ...portVariables,
};

export const envSchema = z
  .object({
    DATABASE_URL: z
      .string()
      .default(dev.DATABASE_URL!)
      .refine((v) => /^postgres(ql)?:\/\//.test(v), 'expected postgres://user:password@host:port/database'),
    /**
     * Table groups that read another source database: `group=database` (a database on DATABASE_URL's server, same
     * roles) or `group=postgres://user:password@host:port/database` (another server), comma-separated. Unnamed groups
     * read DATABASE_URL's database. Read by config/load.ts (groupDatabaseUrl).
     */
    ASTROS_GROUP_DATABASES: z
      .string()
      .trim()
      .refine(
        (v) => v.split(',').every((p) => /^[a-z][a-z0-9_]{0,29}=([a-z_][a-z0-9_]{0,62}|postgres(ql)?:\/\/\S+)$/.test(p.trim()) && !p.trim().startsWith('default=')),
        'expected group=database or group=postgres://user:password@host:port/database, comma-separated (not the default group)',
      )
      .optional(),
    /** Schema holding the ingest tables (tests use their own; CDC publishes public.astronauts). */
    DATABASE_SCHEMA: z
      .string()
      .default('public')
      .refine((v) => /^[a-z_][a-z0-9_]{0,62}$/.test(v), 'expected a lower-case SQL identifier'),
    TEMPORAL_ADDRESS: z
      .string()
      .default(dev.TEMPORAL_ADDRESS!)
      .refine((v) => hostPort.test(v), 'expected host:port'),
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TASK_QUEUE: z.string().min(1).default(INGEST_TASK_QUEUE),
    /** Temporal Web UI, for the links the CLI prints while it waits for a run. */
    TEMPORAL_UI_URL: httpUrl.default(dev.TEMPORAL_UI_URL!),
    ASTROS_SOURCE_URL: httpUrl.default(DEFAULT_SOURCE_URL),
    ASTROS_HTTP_CONNECT_TIMEOUT_MS: int(100, 60_000).default(5_000),
    /** Time to the response headers, and the longest silence while reading the body. */
    ASTROS_HTTP_RESPONSE_TIMEOUT_MS: int(100, 60_000).default(10_000),
    /** Retries inside the fetch activity (p-retry) before Temporal's own retry policy takes over. */
    ASTROS_HTTP_RETRIES: int(0, 10).default(3),
    ASTROS_HTTP_RETRY_MIN_DELAY_MS: int(0, 60_000).default(500),
    ASTROS_HTTP_MAX_BODY_BYTES: int(1_024, 256 * 1024 * 1024).default(32 * 1024 * 1024),
    /** Upper bound on people[] length; larger payloads are rejected as invalid. */
    ASTROS_MAX_PEOPLE: int(1, 1_000_000).default(200_000),
    ASTROS_SCHEDULE_ID: z.string().min(1).default(INGEST_SCHEDULE_ID),
    ASTROS_SCHEDULE_INTERVAL: duration.default('5m'),
    /** Apply pending SQL migrations when the worker starts. */
    ASTROS_MIGRATE_ON_START: bool.default(true),
    /** Start the schema-change watch (workflow schema-changes) when the worker starts; a test's own worker turns it off. */
    ASTROS_SCHEMA_WATCH: bool.default(true),
    LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
    /** ClickHouse HTTP interface. */
    CLICKHOUSE_URL: httpUrl.default(dev.CLICKHOUSE_URL!),
    /** Kafka bootstrap servers, comma-separated. */
    KAFKA_BROKERS: z
      .string()
      .default(dev.KAFKA_BROKERS!)
      .refine((v) => v.split(',').every((b) => hostPort.test(b.trim())), 'expected host:port[,host:port...]'),
    /** Prefix of the ClickHouse Kafka-engine consumer groups (<prefix>-<table>). */
    CLICKHOUSE_KAFKA_GROUP_PREFIX: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ -').default('clickhouse'),
    /** Kafka Connect's REST API (the Debezium connector is registered there). */
    CONNECT_URL: httpUrl.default(dev.CONNECT_URL!),
    /** The schema registry's base URL (Apicurio; its Confluent-compatible API is under /apis/ccompat/v7). */
    REGISTRY_URL: httpUrl.default(dev.REGISTRY_URL!),
    /** The Confluent-compatible API as ClickHouse must reach it, when that differs from REGISTRY_URL's (docker-compose). */
    SCHEMA_REGISTRY_CCOMPAT_URL: httpUrl.optional(),
    /** TTL of every <t>_changelog (the per-message record), on ingested_at; a declaration's retention.changelog overrides it. */
    CLICKHOUSE_CHANGELOG_TTL: retention.default('30d'),
    /** TTL of kafka_errors (the error stream), on received_at: how long a dead letter can still be listed and replayed. */
    CLICKHOUSE_KAFKA_ERRORS_TTL: retention.default('90d'),
    /** retention.ms of the captured tables' topics: how far back a replay or rewind can read; a declaration's retention.topic overrides it. */
    KAFKA_TOPIC_RETENTION: retention.default('7d'),
    /** Partitions of a captured table's topic when its declaration names none (fixed once the topic exists). */
    KAFKA_TOPIC_PARTITIONS: int(1, 64).default(1),
    /** A ClickHouse cluster of remote_servers: objects ON CLUSTER, Replicated and Distributed (catalog/cluster-shape.ts); unset: one host. */
    CLICKHOUSE_CLUSTER: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a cluster name of remote_servers (letters, digits, _)').optional(),
    /** More ClickHouse hosts of one replica set (each consumes every topic in its own groups), comma-separated http URLs; unset: one host. */
    CLICKHOUSE_REPLICA_URLS: z
      .string()
      .optional()
      .refine((v) => v === undefined || v.split(',').every((u) => httpUrl.safeParse(u.trim()).success), 'expected http(s) URLs, comma-separated'),
    /** The replica reads go to first (ch1 = CLICKHOUSE_URL, ch2 = the first of CLICKHOUSE_REPLICA_URLS, ...); the others when it does not answer. */
    CLICKHOUSE_PRIMARY: z.string().regex(/^ch[1-9][0-9]?$/, 'expected a replica name: ch1, ch2, ...').default('ch1'),
    MONITOR_HOST: z.string().min(1).default('127.0.0.1'),
    /** Where the monitor listens (0: any free port); also the stack's monitor port (TEST_MONITOR_PORT for the test profile). */
    MONITOR_PORT: int(0, 65535).default(Number(dev.MONITOR_PORT)),
    TEST_MONITOR_PORT: optional,
    /** How often the monitor samples the pipeline (and writes a sample row to ClickHouse). */
    MONITOR_INTERVAL: duration.default('10s'),
    /** Names this monitor's rows in astros.monitor_samples / monitor_alerts (several monitors can share them). */
    MONITOR_INSTANCE: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ -').default('astros'),
    /** Slack-compatible incoming webhook (POST {"text": ...}); empty: alerts are only logged and shown on the page. */
    ALERT_WEBHOOK_URL: httpUrl.optional(),
    /** Postgres' max_slot_wal_keep_size: past it a lagging slot is invalidated; the test profile's is small, so a test can lose its own slot in seconds. */
    PG_MAX_SLOT_WAL_KEEP_SIZE: z.string().default('2GB'),
    TEST_PG_MAX_SLOT_WAL_KEEP_SIZE: z.string().default('256MB'),
    /** The native stack's download cache (default ~/.cache/astros-cdc, or under XDG_CACHE_HOME). */
    ASTROS_CACHE_DIR: optional,
    XDG_CACHE_HOME: optional,
    /** The native stack's state (default .stack/ in the checkout). */
    ASTROS_STATE_DIR: optional,
    /** The cluster profile's name prefix and /24 (config/cluster.ts): a second cluster stack on the machine sets both. */
    ASTROS_CLUSTER_PREFIX: optional,
    ASTROS_CLUSTER_SUBNET: optional,
    JAVA_HOME: optional,
    PYTHON: z.string().default('python3'),
    /** Set by the embedded ClickHouse server when it re-executes itself with a larger libuv pool. */
    UV_THREADPOOL_SIZE: optional,
    /**
     * Where backups go (activities/backup, cli/backup.ts): an absolute directory the ClickHouse host can
     * write (its backups.allowed_path) and the worker can read, or s3://bucket[/prefix] on BACKUP_S3_ENDPOINT.
     * Default: the dev stack's directory (its ClickHouse may write there). Credentials stay in the config,
     * never in a workflow's input.
     */
    BACKUP_TARGET: z
      .string()
      .trim()
      .refine((v) => v.startsWith('/') || /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(v), 'expected an absolute directory or s3://bucket[/prefix]')
      .default(path.join(repoRoot, '.stack', 'dev', 'backups')),
    /** The S3-compatible server (path-style requests): the stack's SeaweedFS, MinIO, AWS (https://s3.<region>.amazonaws.com). */
    BACKUP_S3_ENDPOINT: httpUrl.optional(),
    BACKUP_S3_REGION: z.string().min(1).default('us-east-1'),
    BACKUP_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
    BACKUP_S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    /** How many backups `backup prune` (and the schedule after each backup) keeps, plus the bases they need. */
    BACKUP_KEEP: int(1, 10_000).default(7),
    /** A role with REPLICATION for pg_basebackup (the stack's is astros_cdc); empty: Postgres is not backed up. */
    BACKUP_PG_URL: z
      .string()
      .refine((v) => /^postgres(ql)?:\/\//.test(v), 'expected postgres://user:password@host:port/database')
      .optional(),
    /** Postgres 15's client tools. */
    PG_BASEBACKUP: z.string().min(1).default('/usr/lib/postgresql/15/bin/pg_basebackup'),
    /** Benchmarks: the capture ceiling's tool, and another Postgres to run against. */
    PG_RECVLOGICAL: z.string().default('/usr/lib/postgresql/15/bin/pg_recvlogical'),
    BENCH_PG_URL: optional,
  })
  .extend(namedByTables as Record<never, never>)
  .superRefine((env, ctx) => {
    // Worst case of one fetch activity attempt: every HTTP attempt times out, plus the backoff between them.
    const attempts = env.ASTROS_HTTP_RETRIES + 1;
    let backoff = 0;
    for (let i = 0; i < env.ASTROS_HTTP_RETRIES; i++) backoff += Math.min(env.ASTROS_HTTP_RETRY_MIN_DELAY_MS * 2 ** i, 10_000);
    const worst = attempts * (env.ASTROS_HTTP_CONNECT_TIMEOUT_MS + 2 * env.ASTROS_HTTP_RESPONSE_TIMEOUT_MS) + backoff;
    // The fetch heartbeats per attempt and per body chunk, not while waiting for headers.
    const silent = env.ASTROS_HTTP_CONNECT_TIMEOUT_MS + env.ASTROS_HTTP_RESPONSE_TIMEOUT_MS;
    if (silent >= activityLimits.fetch.heartbeatMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['ASTROS_HTTP_RESPONSE_TIMEOUT_MS'],
        message: `connect + response timeouts (${silent} ms) must stay below the fetch activity's ${activityLimits.fetch.heartbeatMs} ms heartbeat timeout`,
      });
    }
    const s3Given = [env.BACKUP_S3_ENDPOINT, env.BACKUP_S3_ACCESS_KEY_ID, env.BACKUP_S3_SECRET_ACCESS_KEY];
    if (env.BACKUP_TARGET.startsWith('s3://') && s3Given.some((v) => v === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['BACKUP_TARGET'], message: 'an s3:// target needs BACKUP_S3_ENDPOINT, BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY' });
    }
    if (worst >= activityLimits.fetch.startToCloseMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['ASTROS_HTTP_RETRIES'],
        message: `${attempts} HTTP attempts with these timeouts can take ${worst} ms, more than the fetch activity's ${activityLimits.fetch.startToCloseMs} ms start-to-close timeout; lower the retries or timeouts`,
      });
    }
  });

export type Env = z.infer<typeof envSchema>;
