/**
 * The ClickHouse Kafka-engine settings of every captured table, in one place.
 * Changing a value here recreates each queue on the next `npm run setup` with
 * the same consumer group, so consumption resumes from the committed offsets.
 * Values measured by the benchmarks (bench/README.md, tuning log).
 */
export interface ConsumerSetting {
  name: string;
  value: string | number;
  why: string;
}

export const consumerSettings: readonly ConsumerSetting[] = [
  { name: 'kafka_format', value: 'AvroConfluent', why: 'Debezium writes Avro in the Confluent wire format; schemas come from the registry' },
  {
    name: 'input_format_avro_allow_missing_fields',
    value: 1,
    why: 'a column the queue has but the writer schema lacks (added on the ClickHouse side first) reads as NULL',
  },
  { name: 'kafka_handle_error_mode', value: 'stream', why: 'unparsable messages go to kafka_errors with the error, never block the stream' },
  { name: 'kafka_num_consumers', value: 1, why: "one consumer per partition of the table's topic (its declaration's partitions)" },
  { name: 'kafka_max_block_size', value: 65536, why: 'rows per insert into the targets: chDB pays ~10 ms of file work per insert' },
  { name: 'kafka_poll_timeout_ms', value: 20, why: 'latency: single-change p50 in the benchmark' },
  { name: 'kafka_flush_interval_ms', value: 100, why: 'latency: a block is flushed after 100 ms even when small' },
  { name: 'kafka_consumer_reschedule_ms', value: 50, why: 'an idle consumer polls again after 50 ms instead of 500 ms (p50 643 -> 155 ms)' },
];

/**
 * librdkafka settings of the ClickHouse host's Kafka consumers: server
 * configuration (the `<kafka>` section), not per table. The native host passes
 * them as `--kafka.<name>` engine arguments (stack/clickhouse/engine.ts),
 * docker-compose mounts the generated `docker/clickhouse/config.d/kafka.xml`.
 */
export const consumerClientSettings: readonly ConsumerSetting[] = [
  {
    name: 'session.timeout.ms',
    value: 6000,
    why:
      "a dropped or killed queue's consumer does not leave its group; the group can be rewound, and a recreated queue reads, " +
      "only once that member's session expires: 6 s (the broker's minimum) instead of librdkafka's 45 s",
  },
  { name: 'heartbeat.interval.ms', value: 2000, why: 'a third of the session timeout, as librdkafka advises' },
];

/**
 * More librdkafka settings in the cluster profile only, where a broker can be cut off: its link
 * down, its clients see no closed connection and wait on it until a request times out. When it
 * coordinates a queue's consumer group, the consumers' session expires (6 s), and their requests to
 * find and join a coordinator went to it and waited out librdkafka's defaults (60 s a request, 30 s
 * a connection): the whole queue read nothing until the link came back. With one broker
 * there is nowhere else to go: the other profiles keep the defaults.
 */
export const clusterConsumerClientSettings: readonly ConsumerSetting[] = [
  { name: 'socket.timeout.ms', value: 10_000, why: 'a request to a broker cut off fails after 10 s instead of 60 s and goes to another broker' },
  { name: 'socket.connection.setup.timeout.ms', value: 5_000, why: 'a connection to a host cut off (nothing answers) is given up after 5 s instead of 30 s' },
  {
    name: 'topic.metadata.refresh.interval.ms',
    value: 10_000,
    why: "partition leaders moved off a broker cut off are learnt within 10 s instead of 5 min (a fetch from it fails only at the request's timeout)",
  },
];

/**
 * Server settings of the Kafka engine's threads. Each queue's streaming task
 * runs in the message-broker schedule pool, at most 80 % of the pool's threads
 * on tasks of one kind. chDB sizes that pool at 2 threads, so ONE queue streams
 * at a time and every other queue waits its turn (a busy queue keeps its thread
 * up to a minute): a new or recreated queue then read nothing for 90 s.
 * 16 is a ClickHouse server's default; an idle task costs nothing. chDB
 * only: a server's defaults are already these or larger.
 */
export const consumerServerSettings: readonly ConsumerSetting[] = [
  {
    name: 'background_message_broker_schedule_pool_size',
    value: 16,
    why: "a ClickHouse server's default; chDB's 2 threads let one queue stream at a time",
  },
  {
    name: 'background_schedule_pool_size',
    value: 16,
    why: "chDB's 2 threads ran one task of a kind at a time: a dropped queue's table removal and the merge scheduler queued behind each other",
  },
];

/** The client settings as ClickHouse configuration keys: `session.timeout.ms` -> `session_timeout_ms`. */
export const consumerClientConfig = (settings: readonly ConsumerSetting[] = consumerClientSettings): [string, string | number][] =>
  settings.map((s) => [s.name.replaceAll('.', '_'), s.value]);

/** The client and server settings as chDB engine arguments; `cluster`: with the cluster profile's client settings. */
export const consumerEngineArgs = (cluster = false): string[] => [
  ...consumerClientConfig([...consumerClientSettings, ...(cluster ? clusterConsumerClientSettings : [])]).map(([k, v]) => `--kafka.${k}=${v}`),
  ...consumerServerSettings.map((s) => `--${s.name}=${s.value}`),
];

/** The same settings as a ClickHouse server's config.d file (docker-compose). */
export function consumerClientConfigXml(): string {
  const lines = consumerClientConfig().map(([k, v], i) => `    <!-- ${consumerClientSettings[i]!.why} -->\n    <${k}>${v}</${k}>`);
  // The pool sizes stay out: a ClickHouse server's defaults (16 and 512) already are what chDB lacks.
  return `<!-- Generated from catalog/consumer-settings.ts by \`npm run catalog -- generate\`; do not edit. -->\n<clickhouse>\n  <kafka>\n${lines.join('\n')}\n  </kafka>\n</clickhouse>\n`;
}

export type ConsumerOverrides = Partial<Record<string, string | number>>;

/**
 * With more than one partition: past ClickHouse's limit of one consumer per physical core (a 2-core
 * host refuses 3), which guards threads; the consumers of a queue share its one streaming task
 * (kafka_thread_per_consumer 0), so a consumer costs a connection, not a core.
 */
const MANY_CONSUMERS: [string, number] = ['kafka_disable_num_consumers_limit', 1];

/** Settings checked when a queue is created and not kept in its definition (engine_full): never a difference. */
export const createOnlyQueueSettings: ReadonlySet<string> = new Set([MANY_CONSUMERS[0]]);

/**
 * Engine settings left at ClickHouse's default that the bench may still set: one message a poll
 * (`--kafka-poll-max-batch-size 1`) returns a lone change at once but made the 200k-row UPDATE's drain
 * 6-8x slower (bench/README.md, "Single-change latency").
 */
const benchOnlySettings: ReadonlySet<string> = new Set(['kafka_poll_max_batch_size']);

/** The settings in the order they are written, with overrides applied (the bench's knobs); one consumer per partition. */
export function queueSettings(
  identity: { brokers: string; topic: string; group: string; registryUrl: string },
  overrides: ConsumerOverrides = {},
  partitions = 1,
): [string, string | number][] {
  const unknown = Object.keys(overrides).filter((k) => !consumerSettings.some((s) => s.name === k) && !benchOnlySettings.has(k));
  if (unknown.length > 0) throw new Error(`unknown Kafka-engine setting(s): ${unknown.join(', ')}`);
  const [format, ...rest] = consumerSettings;
  return [
    ['kafka_broker_list', identity.brokers],
    ['kafka_topic_list', identity.topic],
    ['kafka_group_name', identity.group],
    [format!.name, overrides[format!.name] ?? format!.value],
    ['format_avro_schema_registry_url', identity.registryUrl],
    ...rest.map((s): [string, string | number] => [s.name, overrides[s.name] ?? (s.name === 'kafka_num_consumers' ? partitions : s.value)]),
    ...Object.entries(overrides).flatMap(([k, v]): [string, string | number][] => (benchOnlySettings.has(k) && v !== undefined ? [[k, v]] : [])),
    ...(partitions > 1 ? [MANY_CONSUMERS] : []),
  ];
}
