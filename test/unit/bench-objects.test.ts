import { describe, expect, it } from 'vitest';
import { benchConnector, fullNames, names } from '../../bench/lib/objects.ts';
import { readConnectorFile } from '../../catalog/connector.ts';

describe('the benchmark objects', () => {
  it('are named apart from the main pipeline, with the group the bench had before the catalog', () => {
    expect(names).toMatchObject({
      topic: 'bench.public.bench_cdc',
      group: 'astros-bench-cdc',
      queue: 'bench.bench_cdc_queue',
      changelog: 'bench.bench_cdc_changelog',
      current: 'bench.bench_cdc',
      errors: 'bench.kafka_errors',
    });
    expect(fullNames).toMatchObject({ topic: 'bench.public.bench_cdc_full', group: 'astros-bench-cdc-full', current: 'bench.bench_cdc_full' });
  });

  it('connector: the production connector with its own identity and table, and the given knobs', () => {
    const prod = readConnectorFile().config;
    const bench = benchConnector({ 'poll.interval.ms': '7', 'producer.override.linger.ms': '' });
    expect(bench.name).toBe('bench-postgres');
    const differ = [...new Set([...Object.keys(prod), ...Object.keys(bench.config)])].filter((k) => prod[k] !== bench.config[k]).sort();
    expect(differ).toEqual(['heartbeat.action.query', 'poll.interval.ms', 'producer.override.linger.ms', 'publication.name', 'slot.name', 'snapshot.mode', 'table.include.list', 'topic.prefix']);
    expect(bench.config).toMatchObject({
      'slot.name': 'bench_debezium',
      'publication.name': 'bench_publication',
      'topic.prefix': 'bench',
      'snapshot.mode': 'no_data',
      'table.include.list': 'public.bench_cdc,public.bench_cdc_full,public.bench_load',
      'poll.interval.ms': '7',
    });
    expect(Object.keys(bench.config)).not.toContain('heartbeat.action.query');
    expect(Object.keys(bench.config)).not.toContain('producer.override.linger.ms');
  });
});
