/**
 * The cluster profile's plan (config/cluster.ts): names that fit the kernel,
 * addresses from the subnet, the prefix and subnet from the environment with
 * every problem said, and the addresses the pipeline's tools get from it.
 */
import { describe, expect, it } from 'vitest';
import { clusterPlan, clusterServiceHosts, defaultClusterPrefix, defaultClusterSubnet, hostsRunning } from '../../config/cluster.ts';
import { parseConfig } from '../../config/load.ts';

describe('the cluster plan', () => {
  it('defaults: prefix astros, the bridge at .1, host n at .(10+n), kernel names of at most 15 characters', () => {
    const plan = clusterPlan({});
    expect(plan.prefix).toBe(defaultClusterPrefix);
    expect(plan.bridgeAddress).toBe(defaultClusterSubnet.replace(/0\/24$/, '1'));
    expect(plan.hosts.map((h) => h.address)).toEqual(plan.hosts.map((_, i) => defaultClusterSubnet.replace(/0\/24$/, String(11 + i))));
    for (const name of [plan.bridge, ...plan.hosts.map((h) => h.veth)]) expect(name.length, name).toBeLessThanOrEqual(15);
    expect(new Set(plan.hosts.map((h) => h.namespace)).size).toBe(plan.hosts.length);
  });

  it('three brokers, two Connect workers, two workers, two ClickHouse hosts; one of everything else', () => {
    const plan = clusterPlan({});
    expect(hostsRunning(plan, 'kafka')).toHaveLength(3);
    expect(hostsRunning(plan, 'connect')).toHaveLength(2);
    expect(hostsRunning(plan, 'worker')).toHaveLength(2);
    for (const one of ['postgres', 'registry', 'temporal', 'clickhouse', 'clickhouse2', 'simulator'] as const) expect(hostsRunning(plan, one), one).toHaveLength(1);
  });

  it('prefix and subnet from the environment; a bad value of either is a problem, both listed', () => {
    const plan = clusterPlan({ ASTROS_CLUSTER_PREFIX: 'ci7', ASTROS_CLUSTER_SUBNET: '10.99.3.0/24' });
    expect(plan.bridge).toBe('ci7-br');
    expect(plan.hosts[0]).toMatchObject({ namespace: 'ci7-pg', veth: 'ci7-v1', address: '10.99.3.11' });
    const problems: string[] = [];
    clusterPlan({ ASTROS_CLUSTER_PREFIX: 'Way-Too-Long-Prefix', ASTROS_CLUSTER_SUBNET: '10.0.0.0/16' }, problems);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^ASTROS_CLUSTER_PREFIX: /);
    expect(problems[1]).toMatch(/^ASTROS_CLUSTER_SUBNET: /);
  });

  it("the cluster profile's addresses: every broker in KAFKA_BROKERS, the first Connect worker, three partitions by default", () => {
    const env = { ASTROS_CLUSTER_PREFIX: 'ut', ASTROS_CLUSTER_SUBNET: '10.98.0.0/24' };
    const hosts = clusterServiceHosts(clusterPlan(env));
    const cfg = parseConfig(env, { profile: 'cluster' });
    expect(cfg.kafkaBrokers).toEqual(hosts.kafka.map((h) => `${h}:9092`));
    expect(cfg.connectUrl).toBe(`http://${hosts.connect[0]}:8083`);
    expect(cfg.databaseUrl).toContain(`@${hosts.postgres}:5432/`);
    expect(cfg.topicPartitions).toBe(3);
    // Both ClickHouse hosts, each at its own address: setup, the worker and validation use the replica set.
    expect(cfg.clickhouseReplicas.map((r) => [r.name, r.url])).toEqual([['ch1', `http://${hosts.clickhouse}:8123`], ['ch2', `http://${hosts.clickhouseReplica}:8124`]]);
    expect(hosts.clickhouseReplica).not.toBe(hosts.clickhouse);
    expect(parseConfig(env, { profile: 'test' }).clickhouseReplicas).toHaveLength(1);
    expect(parseConfig({ ...env, KAFKA_TOPIC_PARTITIONS: '5' }, { profile: 'cluster' }).topicPartitions).toBe(5);
    expect(parseConfig(env, { profile: 'test' }).kafkaBrokers).toEqual(['127.0.0.1:29092']);
    expect(() => parseConfig({ ASTROS_CLUSTER_SUBNET: 'nope' }, { profile: 'cluster' })).toThrow(/ASTROS_CLUSTER_SUBNET/);
  });
});

describe("the cluster's ClickHouse consumers", () => {
  it('get shorter request and connection timeouts and a frequent metadata refresh; the other profiles keep the defaults', async () => {
    const { consumerEngineArgs } = await import('../../catalog/consumer-settings.ts');
    const { clickhouse } = await import('../../stack/components/clickhouse.ts');
    const { createContext } = await import('../../stack/lib/context.ts');
    expect(consumerEngineArgs(true)).toEqual(expect.arrayContaining(['--kafka.socket_timeout_ms=10000', '--kafka.socket_connection_setup_timeout_ms=5000', '--kafka.topic_metadata_refresh_interval_ms=10000']));
    expect(consumerEngineArgs(false).some((a) => a.startsWith('--kafka.socket_'))).toBe(false);
    expect((await clickhouse.process(createContext('cluster'))).args).toContain('--cluster-kafka');
    expect((await clickhouse.process(createContext('test'))).args).not.toContain('--cluster-kafka');
  });

  it('the second ClickHouse host runs in the cluster always (named-only on loopback), bound to its own address', async () => {
    const { componentsFor } = await import('../../stack/components/index.ts');
    const { createContext } = await import('../../stack/lib/context.ts');
    const plan = clusterPlan({});
    const ch2 = componentsFor('cluster').find((c) => c.name === 'clickhouse2')!;
    expect(ch2).toMatchObject({ optional: false, namedOnly: false, host: { namespace: hostsRunning(plan, 'clickhouse2')[0]!.namespace } });
    const ctx = createContext('cluster');
    const args = (await ch2.process(ctx)).args;
    expect(args.slice(0, 3)).toEqual(['netns', 'exec', `${plan.prefix}-ch2`]);
    expect(args[args.indexOf('--host') + 1]).toBe(hostsRunning(plan, 'clickhouse2')[0]!.address);
    expect(componentsFor('test').find((c) => c.name === 'clickhouse2')?.namedOnly).toBe(true);
  });
});
