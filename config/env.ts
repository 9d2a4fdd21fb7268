/**
 * The only place that reads the environment. One zod schema, parsed once at
 * start; every problem is reported at once, without a stack trace
 * (see `loadConfigOrExit`). Every variable is documented in `.env.example`.
 *
 * Workflows never read configuration: they get what they need as arguments,
 * and activities get it through `createActivities(deps)`.
 */
import { z } from 'zod';
import { durationMs, parseRetention, retentionHint } from '../shared/duration.ts';
import { ConfigError } from '../shared/errors.ts';
import type { Retention } from '../catalog/retention.ts';
import { alertRules, type ResolvedRule } from '../monitor/alert-rules.ts';
import { activityLimits, INGEST_SCHEDULE_ID, INGEST_TASK_QUEUE } from '../shared/workflows.ts';

export const DEFAULT_SOURCE_URL = 'http://api.open-notify.org/astros.json';

/** A duration like `30s`, `5m`, `1h`, `500ms` (the format Temporal's client accepts). */
const duration = z
  .string()
  .trim()
  .regex(/^[1-9][0-9]*(ms|s|m|h|d)$/, 'expected a duration such as 30s, 5m, 1h');

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

/** Prefix of the ClickHouse Kafka-engine consumer groups (<prefix>-<table>). */
const groupPrefix = z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ -').default('clickhouse');

/** Name, default and meaning of every variable: the schema is the table of tunables. */
export const envSchema = z
  .object({
    DATABASE_URL: z
      .string()
      .default('postgres://astros:astros@127.0.0.1:5432/astros')
      .refine((v) => /^postgres(ql)?:\/\//.test(v), 'expected postgres://user:password@host:port/database'),
    /** Schema holding the ingest tables (tests use their own; CDC publishes public.astronauts). */
    DATABASE_SCHEMA: z
      .string()
      .default('public')
      .refine((v) => /^[a-z_][a-z0-9_]{0,62}$/.test(v), 'expected a lower-case SQL identifier'),
    TEMPORAL_ADDRESS: z
      .string()
      .default('127.0.0.1:7233')
      .refine((v) => /^[^:\s/]+:[0-9]{1,5}$/.test(v), 'expected host:port'),
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TASK_QUEUE: z.string().min(1).default(INGEST_TASK_QUEUE),
    /** Temporal Web UI, for the links the CLI prints while it waits for a run. */
    TEMPORAL_UI_URL: httpUrl.default('http://127.0.0.1:8233'),
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
    /** ClickHouse HTTP interface (validatePipeline reads the CDC target there). */
    CLICKHOUSE_URL: httpUrl.default('http://127.0.0.1:8123'),
    /** Kafka bootstrap servers, comma-separated (validatePipeline checks the ClickHouse consumer's lag). */
    KAFKA_BROKERS: z
      .string()
      .default('127.0.0.1:9092')
      .refine((v) => v.split(',').every((b) => /^[^:\s/]+:[0-9]{1,5}$/.test(b.trim())), 'expected host:port[,host:port...]'),
    CLICKHOUSE_KAFKA_GROUP_PREFIX: groupPrefix,
  })
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
    if (worst >= activityLimits.fetch.startToCloseMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['ASTROS_HTTP_RETRIES'],
        message: `${attempts} HTTP attempts with these timeouts can take ${worst} ms, more than the fetch activity's ${activityLimits.fetch.startToCloseMs} ms start-to-close timeout; lower the retries or timeouts`,
      });
    }
  });

export type Env = z.infer<typeof envSchema>;

export interface Config {
  databaseUrl: string;
  databaseSchema: string;
  temporal: { address: string; namespace: string; taskQueue: string; uiUrl: string };
  source: {
    url: string;
    connectTimeoutMs: number;
    responseTimeoutMs: number;
    retries: number;
    retryMinDelayMs: number;
    maxBodyBytes: number;
    maxPeople: number;
  };
  schedule: { id: string; interval: string };
  migrateOnStart: boolean;
  schemaWatch: boolean;
  logLevel: Env['LOG_LEVEL'];
  clickhouseUrl: string;
  kafkaBrokers: string[];
  /** ClickHouse consumer group prefix (validatePipeline's catch-up check of catalog tables). */
  groupPrefix: string;
}

/** Parse an environment; throws ConfigError listing every problem. Pure: tests pass their own env. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  // Empty strings mean "unset" (a blank line copied from .env.example must not fail validation).
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  const e = result.data;
  return {
    databaseUrl: e.DATABASE_URL,
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
    kafkaBrokers: e.KAFKA_BROKERS.split(',').map((b) => b.trim()),
    groupPrefix: e.CLICKHOUSE_KAFKA_GROUP_PREFIX,
  };
}

/**
 * Where the pipeline's services are, for the tools that set it up and watch it
 * (setup, catalog, lag, ch, bench), and how long it keeps what passes through
 * (catalog/retention.ts: what each retention bounds). Unset variables fall
 * back to `defaults`: the addresses of the native stack of the chosen profile.
 */
export const endpointsSchema = z.object({
  DATABASE_URL: z.string().refine((v) => /^postgres(ql)?:\/\//.test(v), 'expected postgres://user:password@host:port/database'),
  CLICKHOUSE_URL: httpUrl,
  /** Kafka Connect's REST API (the Debezium connector is registered there). */
  CONNECT_URL: httpUrl,
  KAFKA_BROKERS: z.string().refine((v) => v.split(',').every((b) => /^[^:\s/]+:[0-9]{1,5}$/.test(b.trim())), 'expected host:port[,host:port...]'),
  /** The schema registry's base URL (Apicurio; its Confluent-compatible API is under /apis/ccompat/v7). */
  REGISTRY_URL: httpUrl,
  /** The Confluent-compatible API as ClickHouse must reach it, when that differs from REGISTRY_URL's (docker-compose). */
  SCHEMA_REGISTRY_CCOMPAT_URL: httpUrl.optional(),
  CLICKHOUSE_KAFKA_GROUP_PREFIX: groupPrefix,
  /** TTL of every <t>_changelog (the per-message record), on ingested_at; a declaration's retention.changelog overrides it. */
  CLICKHOUSE_CHANGELOG_TTL: retention.default('30d'),
  /** TTL of kafka_errors (the error stream), on received_at: how long a dead letter can still be listed and replayed. */
  CLICKHOUSE_KAFKA_ERRORS_TTL: retention.default('90d'),
  /** retention.ms of the captured tables' topics: how far back a replay or rewind can read; a declaration's retention.topic overrides it. */
  KAFKA_TOPIC_RETENTION: retention.default('7d'),
});

export interface Endpoints {
  databaseUrl: string;
  clickhouseUrl: string;
  connectUrl: string;
  kafkaBrokers: string;
  registryUrl: string;
  registryCcompatUrl: string;
  groupPrefix: string;
  /** What setup applies: ClickHouse TTLs and topic retention (0 = forever). */
  retention: Retention;
}

export function endpoints(defaults: Partial<Record<string, string>>, env: Record<string, string | undefined> = process.env): Endpoints {
  const pick = Object.fromEntries(Object.keys(endpointsSchema.shape).map((k) => [k, env[k] || defaults[k]]));
  const r = endpointsSchema.safeParse(Object.fromEntries(Object.entries(pick).filter(([, v]) => v !== undefined && v !== '')));
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  const e = r.data;
  return {
    databaseUrl: e.DATABASE_URL,
    clickhouseUrl: e.CLICKHOUSE_URL,
    connectUrl: e.CONNECT_URL,
    kafkaBrokers: e.KAFKA_BROKERS,
    registryUrl: e.REGISTRY_URL,
    registryCcompatUrl: e.SCHEMA_REGISTRY_CCOMPAT_URL ?? `${e.REGISTRY_URL.replace(/\/$/, '')}/apis/ccompat/v7`,
    groupPrefix: e.CLICKHOUSE_KAFKA_GROUP_PREFIX,
    retention: {
      changelogMs: parseRetention(e.CLICKHOUSE_CHANGELOG_TTL)!,
      errorsMs: parseRetention(e.CLICKHOUSE_KAFKA_ERRORS_TTL)!,
      topicMs: parseRetention(e.KAFKA_TOPIC_RETENTION)!,
    },
  };
}

/** The worker's view of the pipeline's addresses (tables add/remove): its own settings, CONNECT_URL and REGISTRY_URL from the environment. */
export function workerEndpoints(cfg: Config, env: Record<string, string | undefined> = process.env): Endpoints {
  return endpoints(
    { DATABASE_URL: cfg.databaseUrl, CLICKHOUSE_URL: cfg.clickhouseUrl, KAFKA_BROKERS: cfg.kafkaBrokers.join(','), CONNECT_URL: 'http://127.0.0.1:8083', REGISTRY_URL: 'http://127.0.0.1:8081' },
    env,
  );
}

/** Tools' own knobs (benchmarks). */
export function toolEnv(env: Record<string, string | undefined> = process.env): { pgRecvlogical: string; benchPgUrl: string | undefined } {
  return { pgRecvlogical: env.PG_RECVLOGICAL || '/usr/lib/postgresql/15/bin/pg_recvlogical', benchPgUrl: env.BENCH_PG_URL || undefined };
}

/**
 * The native stack's own settings (stack/): where it keeps its state and
 * downloads, port overrides, the runtimes it starts, and what the dev
 * worker component passes on. Unset means the stack's default.
 */
export function stackSettings(env: Record<string, string | undefined> = process.env) {
  const set = (v: string | undefined) => (v ? v : undefined);
  return {
    cacheDir: set(env.ASTROS_CACHE_DIR),
    xdgCacheHome: set(env.XDG_CACHE_HOME),
    stateDir: set(env.ASTROS_STATE_DIR),
    javaHome: set(env.JAVA_HOME),
    python: env.PYTHON || 'python3',
    /** Set by the embedded ClickHouse server when it re-executes itself with a larger libuv pool. */
    uvThreadpoolSize: set(env.UV_THREADPOOL_SIZE),
    /** A port variable (PG_PORT, KAFKA_PORT, ...): TEST_-prefixed for the test profile. */
    port: (name: string, profile: 'dev' | 'test') => set(env[`${profile === 'test' ? 'TEST_' : ''}${name}`]),
    /**
     * Postgres' max_slot_wal_keep_size (PG_MAX_SLOT_WAL_KEEP_SIZE, TEST_-prefixed for the test profile): past it a
     * lagging slot is invalidated. The test profile's is small, so a test can lose its own slot in seconds.
     */
    walKeepSize: (profile: 'dev' | 'test') => set(env[`${profile === 'test' ? 'TEST_' : ''}PG_MAX_SLOT_WAL_KEEP_SIZE`]) ?? (profile === 'test' ? '256MB' : '2GB'),
    worker: { taskQueue: set(env.TASK_QUEUE), namespace: set(env.TEMPORAL_NAMESPACE), sourceUrl: set(env.ASTROS_SOURCE_URL) },
  };
}

const durationOrZero = z
  .string()
  .trim()
  .refine((v) => durationMs(v, { allowZero: true }) !== undefined, 'expected a duration such as 0s, 30s, 5m, 1h');

/**
 * The monitor (monitor/main.ts): where it listens, how often it samples, where
 * alerts go, and every alert threshold of monitor/alert-rules.ts (one
 * `<threshold.env>` and one `<for.env>` per row, defaults from the table).
 */
export const monitorSchema = z.object({
  MONITOR_HOST: z.string().min(1).default('127.0.0.1'),
  MONITOR_PORT: int(0, 65535).default(9464),
  /** How often the monitor samples the pipeline (and writes a sample row to ClickHouse). */
  MONITOR_INTERVAL: duration.default('10s'),
  /** Names this monitor's rows in astros.monitor_samples / monitor_alerts (several monitors can share them). */
  MONITOR_INSTANCE: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ -').default('astros'),
  /** Slack-compatible incoming webhook (POST {"text": ...}); empty: alerts are only logged and shown on the page. */
  ALERT_WEBHOOK_URL: httpUrl.optional(),
  TEMPORAL_ADDRESS: envSchema.shape.TEMPORAL_ADDRESS,
  TEMPORAL_NAMESPACE: envSchema.shape.TEMPORAL_NAMESPACE,
  TEMPORAL_UI_URL: envSchema.shape.TEMPORAL_UI_URL,
  ...Object.fromEntries(
    alertRules.flatMap((r) => [
      [r.threshold.env, z.coerce.number().finite().default(r.threshold.default)],
      [r.for.env, durationOrZero.default(r.for.default)],
    ]),
  ),
});

export interface MonitorConfig {
  host: string;
  port: number;
  intervalMs: number;
  instance: string;
  webhookUrl: string | undefined;
  temporal: { address: string; namespace: string; uiUrl: string };
  endpoints: Endpoints;
  /** The threshold table with this environment's values. */
  rules: ResolvedRule[];
}

/** The monitor's configuration; `defaults` fill unset addresses (the native stack's, for `--profile`). */
export function monitorConfig(env: Record<string, string | undefined> = process.env, defaults: Partial<Record<string, string>> = {}): MonitorConfig {
  const set = (o: Record<string, string | undefined>) => Object.entries(o).filter(([k, v]) => k in monitorSchema.shape && v !== undefined && v !== '');
  const r = monitorSchema.safeParse(Object.fromEntries([...set(defaults), ...set(env)]));
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  const e = r.data as Record<string, string | number | undefined>;
  return {
    host: String(e.MONITOR_HOST),
    port: Number(e.MONITOR_PORT),
    intervalMs: durationMs(String(e.MONITOR_INTERVAL))!,
    instance: String(e.MONITOR_INSTANCE),
    webhookUrl: e.ALERT_WEBHOOK_URL === undefined ? undefined : String(e.ALERT_WEBHOOK_URL),
    temporal: { address: String(e.TEMPORAL_ADDRESS), namespace: String(e.TEMPORAL_NAMESPACE), uiUrl: String(e.TEMPORAL_UI_URL) },
    endpoints: endpoints(defaults, env),
    rules: alertRules.map((rule) => {
      const forText = String(e[rule.for.env]);
      return { ...rule, value: Number(e[rule.threshold.env]), forText, forMs: durationMs(forText, { allowZero: true })! };
    }),
  };
}

let cached: Config | undefined;

/** The process-wide configuration, parsed once from process.env. */
export function config(): Config {
  cached ??= parseConfig(process.env);
  return cached;
}

/** For entry points: parse once, or print every problem (no stack trace) and exit with status 2. */
export function loadConfigOrExit(): Config {
  try {
    return config();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee .env.example for every variable and its default.\n`);
      process.exit(2);
    }
    throw err;
  }
}
