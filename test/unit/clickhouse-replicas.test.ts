/**
 * The ClickHouse replica set as configured: ch1 is CLICKHOUSE_URL with the
 * pipeline's consumer groups (a one-host stack adopts the set with nothing
 * read again), every other host its own groups, reads in primary-first order.
 */
import { describe, expect, it } from 'vitest';
import { findReplica, readOrder, replicaEndpoints } from '../../config/clickhouse-replicas.ts';
import { parseConfig } from '../../config/load.ts';
import { ConfigError } from '../../shared/errors.ts';
import { replicaGroupPrefix, tableNames } from '../../shared/names.ts';

describe('ClickHouse replica set', () => {
  it('one host without CLICKHOUSE_REPLICA_URLS: ch1 = CLICKHOUSE_URL, the pipeline groups', () => {
    const c = parseConfig({ CLICKHOUSE_URL: 'http://ch:8123' });
    expect(c.clickhouseReplicas).toEqual([{ name: 'ch1', url: 'http://ch:8123', groupPrefix: 'clickhouse' }]);
    expect(c.clickhousePrimary).toBe('ch1');
  });

  it('each other host its own consumer groups; ch1 keeps the names a one-host stack has', () => {
    const c = parseConfig({ CLICKHOUSE_URL: 'http://a:8123', CLICKHOUSE_REPLICA_URLS: 'http://b:8124, http://c:8125', CLICKHOUSE_KAFKA_GROUP_PREFIX: 'g' });
    expect(c.clickhouseReplicas.map((r) => [r.name, r.url, r.groupPrefix])).toEqual([
      ['ch1', 'http://a:8123', 'g'],
      ['ch2', 'http://b:8124', 'g-ch2'],
      ['ch3', 'http://c:8125', 'g-ch3'],
    ]);
    const [one, two] = c.clickhouseReplicas.map((r) => tableNames('public.astronauts', replicaEndpoints(c, r)));
    expect(one!.group).toBe(tableNames('public.astronauts', { groupPrefix: 'g' }).group);
    expect(two!.group).toBe('g-ch2-astronauts');
    // the same objects on every host: only the groups differ
    expect({ ...two, group: '' }).toEqual({ ...one, group: '' });
    expect(replicaGroupPrefix('g', 0)).toBe('g');
  });

  it('reads try the primary first, then the others in order', () => {
    const c = parseConfig({ CLICKHOUSE_REPLICA_URLS: 'http://b:8124,http://c:8125', CLICKHOUSE_PRIMARY: 'ch2' });
    expect(readOrder(c.clickhouseReplicas, c.clickhousePrimary).map((r) => r.name)).toEqual(['ch2', 'ch1', 'ch3']);
    expect(() => findReplica(c.clickhouseReplicas, 'ch9')).toThrow(/no ClickHouse replica ch9: the configured ones are ch1 .*ch2 .*ch3/);
  });

  it('a primary that is none of the replicas, or a URL that is not one, is a configuration problem', () => {
    expect(() => parseConfig({ CLICKHOUSE_PRIMARY: 'ch2' })).toThrow(ConfigError);
    expect(() => parseConfig({ CLICKHOUSE_PRIMARY: 'ch2' })).toThrow(/CLICKHOUSE_PRIMARY: ch2 is not a replica/);
    expect(() => parseConfig({ CLICKHOUSE_REPLICA_URLS: 'b:8124' })).toThrow(/CLICKHOUSE_REPLICA_URLS: expected http\(s\) URLs/);
    expect(() => parseConfig({ CLICKHOUSE_PRIMARY: 'primary' })).toThrow(/expected a replica name/);
  });
});
