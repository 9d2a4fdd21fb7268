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
  { name: 'kafka_num_consumers', value: 1, why: 'one partition per topic' },
  { name: 'kafka_max_block_size', value: 65536, why: 'rows per insert into the targets: chDB pays ~10 ms of file work per insert' },
  { name: 'kafka_poll_timeout_ms', value: 20, why: 'latency: single-change p50 in the benchmark' },
  { name: 'kafka_flush_interval_ms', value: 100, why: 'latency: a block is flushed after 100 ms even when small' },
  { name: 'kafka_consumer_reschedule_ms', value: 50, why: 'an idle consumer polls again after 50 ms instead of 500 ms (p50 643 -> 155 ms)' },
];

export type ConsumerOverrides = Partial<Record<string, string | number>>;

/** The settings in the order they are written, with overrides applied (the bench's knobs). */
export function queueSettings(
  identity: { brokers: string; topic: string; group: string; registryUrl: string },
  overrides: ConsumerOverrides = {},
): [string, string | number][] {
  const unknown = Object.keys(overrides).filter((k) => !consumerSettings.some((s) => s.name === k));
  if (unknown.length > 0) throw new Error(`unknown Kafka-engine setting(s): ${unknown.join(', ')}`);
  const [format, ...rest] = consumerSettings;
  return [
    ['kafka_broker_list', identity.brokers],
    ['kafka_topic_list', identity.topic],
    ['kafka_group_name', identity.group],
    [format!.name, overrides[format!.name] ?? format!.value],
    ['format_avro_schema_registry_url', identity.registryUrl],
    ...rest.map((s): [string, string | number] => [s.name, overrides[s.name] ?? s.value]),
  ];
}
