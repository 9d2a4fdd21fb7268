import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/errors.ts';
import { parseConfig } from '../../config/load.ts';
import { defaultPorts } from '../../config/profiles.ts';
import { DEFAULT_SOURCE_URL, envSchema } from '../../config/schema.ts';

function problems(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('has working defaults, with the real API as the source', () => {
    const cfg = parseConfig({});
    expect(cfg.source.url).toBe(DEFAULT_SOURCE_URL);
    expect(cfg.temporal).toEqual({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'astros-ingest', uiUrl: 'http://127.0.0.1:8233' });
    expect(cfg.databaseSchema).toBe('public');
    expect(cfg.migrateOnStart).toBe(true);
  });

  it('treats empty strings as unset', () => {
    expect(parseConfig({ ASTROS_SOURCE_URL: '', TASK_QUEUE: '' }).temporal.taskQueue).toBe('astros-ingest');
  });

  it('reads and coerces values', () => {
    const cfg = parseConfig({
      ASTROS_SOURCE_URL: 'http://127.0.0.1:8090/astros.json',
      ASTROS_HTTP_RETRIES: '1',
      ASTROS_MIGRATE_ON_START: 'false',
      ASTROS_SCHEDULE_INTERVAL: '30s',
    });
    expect(cfg.source.url).toBe('http://127.0.0.1:8090/astros.json');
    expect(cfg.source.retries).toBe(1);
    expect(cfg.migrateOnStart).toBe(false);
    expect(cfg.schedule.interval).toBe('30s');
  });

  it('reports every problem at once, naming each variable', () => {
    const p = problems({
      DATABASE_URL: 'mysql://nope',
      TEMPORAL_ADDRESS: 'no-port',
      ASTROS_SOURCE_URL: 'ftp://example.com/astros.json',
      ASTROS_HTTP_RETRIES: 'many',
      ASTROS_SCHEDULE_INTERVAL: 'often',
      ASTROS_MIGRATE_ON_START: 'maybe',
      DATABASE_SCHEMA: 'Bad-Name',
      TEMPORAL_UI_URL: '127.0.0.1:8233',
    });
    const vars = p.map((line) => line.split(':')[0]);
    expect(vars.sort()).toEqual(
      ['ASTROS_HTTP_RETRIES', 'ASTROS_MIGRATE_ON_START', 'ASTROS_SCHEDULE_INTERVAL', 'ASTROS_SOURCE_URL', 'DATABASE_SCHEMA', 'DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_UI_URL'].sort(),
    );
  });

  it('refuses HTTP timeouts and retries that cannot fit in the fetch activity timeout', () => {
    const p = problems({ ASTROS_HTTP_RETRIES: '10', ASTROS_HTTP_RESPONSE_TIMEOUT_MS: '30000' });
    expect(p.join('\n')).toMatch(/ASTROS_HTTP_RETRIES: 11 HTTP attempts .* start-to-close timeout/);
    expect(p.join('\n')).toMatch(/ASTROS_HTTP_RESPONSE_TIMEOUT_MS: connect \+ response timeouts \(35000 ms\) .* heartbeat timeout/);
  });

  it('formats the error message as a list without a stack trace in the text', () => {
    expect(() => parseConfig({ TEMPORAL_ADDRESS: 'x' })).toThrowError(
      new ConfigError(['TEMPORAL_ADDRESS: expected host:port']),
    );
    expect(new ConfigError(['A: b']).message).toBe('invalid configuration:\n  - A: b');
  });
});

describe('.env.example', () => {
  it('lists every variable of the schema, and parses as a valid configuration', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL('../../.env.example', import.meta.url), 'utf8');
    const env = Object.fromEntries(
      text
        .split('\n')
        .filter((line) => /^[A-Z][A-Z0-9_]*=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    const keys = Object.keys(envSchema.shape);
    expect(keys.length).toBeGreaterThan(10);
    expect(keys.filter((k) => !(k in env))).toEqual([]);
    expect(() => parseConfig(env)).not.toThrow();
    // Every threshold's default is the one .env.example shows.
    const defaults = parseConfig(env).monitor;
    for (const r of defaults.rules) {
      expect(env[r.threshold.env], r.threshold.env).toBe(String(r.threshold.default));
      expect(env[r.for.env], r.for.env).toBe(r.for.default);
    }
    expect(defaults).toMatchObject({ port: 9464, intervalMs: 10_000, instance: 'astros', webhookUrl: undefined });
    expect(parseConfig(env)).toMatchObject({ registryCcompatUrl: 'http://127.0.0.1:8081/apis/ccompat/v7', groupPrefix: 'clickhouse' });
    // The retention .env.example shows is the default.
    const unset = Object.fromEntries(Object.entries(env).filter(([k]) => !/_TTL$|_RETENTION$/.test(k)));
    expect(parseConfig(env).retention).toEqual(parseConfig(unset).retention);
  });
});

describe('retention settings', () => {
  const base = { DATABASE_URL: 'postgres://a:b@h:1/d', CLICKHOUSE_URL: 'http://h:8123', CONNECT_URL: 'http://h:8083', KAFKA_BROKERS: 'h:9092', REGISTRY_URL: 'http://h:8081' };
  const day = 86_400_000;

  it('default to a 30-day change log, 90-day error stream and 7-day topics; 0 and forever keep everything', async () => {
    expect(parseConfig(base).retention).toEqual({ changelogMs: 30 * day, errorsMs: 90 * day, topicMs: 7 * day });
    expect(parseConfig({ ...base, CLICKHOUSE_CHANGELOG_TTL: '12h', CLICKHOUSE_KAFKA_ERRORS_TTL: 'forever', KAFKA_TOPIC_RETENTION: '0' }).retention).toEqual({
      changelogMs: 12 * 3_600_000,
      errorsMs: 0,
      topicMs: 0,
    });
  });

  it('refuse what is not a whole number of s, m, h or d, naming the variable', async () => {
    const bad = { ...base, CLICKHOUSE_CHANGELOG_TTL: '500ms', CLICKHOUSE_KAFKA_ERRORS_TTL: '-1', KAFKA_TOPIC_RETENTION: '7 days' };
    expect(() => parseConfig(bad)).toThrowError(/CLICKHOUSE_CHANGELOG_TTL: expected a duration[\s\S]*CLICKHOUSE_KAFKA_ERRORS_TTL[\s\S]*KAFKA_TOPIC_RETENTION/);
  });
});

describe('stack profiles', () => {
  it('are defaults laid under the environment: the dev stack without a profile, the test stack with --profile test', () => {
    const plain = parseConfig({});
    expect(plain).toMatchObject({ clickhouseUrl: 'http://127.0.0.1:8123', connectUrl: 'http://127.0.0.1:8083', kafkaBrokers: ['127.0.0.1:9092'] });
    expect(plain.stack.ports).toEqual(defaultPorts.dev);
    const test = parseConfig({ ASTROS_STATE_DIR: '/nonexistent' }, { profile: 'test' });
    expect(test).toMatchObject({ clickhouseUrl: 'http://127.0.0.1:28123', registryUrl: 'http://127.0.0.1:28081', kafkaBrokers: ['127.0.0.1:29092'] });
    expect(test.temporal.address).toBe('127.0.0.1:27233');
    expect(test.stack.stateDir).toBe('/nonexistent/test');
    // A test port moves the test profile's address; the environment's own address wins over both.
    expect(parseConfig({ TEST_CLICKHOUSE_HTTP_PORT: '12123' }, { profile: 'test' }).clickhouseUrl).toBe('http://127.0.0.1:12123');
    expect(parseConfig({ TEST_CLICKHOUSE_HTTP_PORT: '12123', CLICKHOUSE_URL: 'http://ch:8123' }, { profile: 'test' }).clickhouseUrl).toBe('http://ch:8123');
    expect(parseConfig({ TEST_CLICKHOUSE_HTTP_PORT: '12123' }).clickhouseUrl).toBe('http://127.0.0.1:8123');
  });

  it('report a port that is not one with every other problem', () => {
    expect(() => parseConfig({ TEST_PG_PORT: 'x', TEMPORAL_ADDRESS: 'nope' }, { profile: 'test' })).toThrowError(/TEST_PG_PORT: x is not a valid port[\s\S]*TEMPORAL_ADDRESS: expected host:port/);
  });
});
