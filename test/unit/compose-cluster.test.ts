/**
 * docker-compose.yml's `cluster` profile is the native cluster profile's
 * topology (config/cluster.ts): as many brokers, Connect workers and workers,
 * the brokers' settings those of the native cluster's server.properties, and
 * the Temporal server as a production service on Postgres with its Web UI.
 * Loaded by compose-go twice: with .env.docker.example as it is (one broker,
 * the dev server) and with the cluster's settings laid over it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterKafka, clusterTopology, loopbackHosts } from '../../config/cluster.ts';
import { defaultPorts } from '../../config/profiles.ts';
import { kafka } from '../../stack/components/kafka.ts';
import { createContext } from '../../stack/lib/context.ts';
import { composeFile, envExample, validate, validatorBinary, type Project } from './compose-project.ts';

const count = (service: string) => clusterTopology.filter((h) => h.runs.includes(service as never)).length;
const brokers = ['kafka', 'kafka-2', 'kafka-3'];
const clusterOnly = ['kafka-2', 'kafka-3', 'connect-2', 'worker-2', 'temporal-schema', 'temporal-server', 'temporal-namespace', 'temporal-ui'];

let tmpDir: string;
let plain: Project;
let cluster: Project;

function load(envFiles: string[]): Project {
  const res = validate(validatorBinary(), composeFile, envFiles);
  if (res.status !== 0) throw new Error(`docker-compose.yml is not a valid Compose project:\n${res.stderr}`);
  return JSON.parse(res.stdout) as Project;
}
const envOf = (p: Project, name: string): Record<string, string> => {
  const s = p.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service '${name}'`);
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v ?? '']));
};

/** What .env.docker.example tells a person to set for the profile, from config/cluster.ts. */
const clusterEnv = (): Record<string, string> => ({
  KAFKA_CONTROLLER_QUORUM_VOTERS: brokers.map((b, i) => `${i + 1}@${b}:9093`).join(','),
  KAFKA_REPLICATION_FACTOR: String(clusterKafka.replicationFactor),
  KAFKA_MIN_INSYNC_REPLICAS: String(clusterKafka.minInsyncReplicas),
  KAFKA_TOPIC_PARTITIONS: String(clusterKafka.topicPartitions),
  TEMPORAL_SERVICE: 'temporal-server',
});

beforeAll(() => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'astros-compose-cluster-'));
  const overlay = path.join(tmpDir, 'cluster.env');
  fs.writeFileSync(overlay, Object.entries(clusterEnv()).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  plain = load([envExample]);
  cluster = load([envExample, overlay]);
}, 300_000);

afterAll(() => {
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('the pipeline cluster profile of docker-compose.yml', () => {
  it('the topology of config/cluster.ts: three brokers, two Connect workers, two workers, only with --profile cluster', () => {
    expect(brokers).toHaveLength(count('kafka'));
    expect(['connect', 'connect-2']).toHaveLength(count('connect'));
    expect(['worker', 'worker-2']).toHaveLength(count('worker'));
    for (const name of clusterOnly) expect(cluster.services[name]?.profiles, name).toEqual(['cluster']);
    // .env.docker.example names the settings and says what the profile wants.
    const example = fs.readFileSync(envExample, 'utf8');
    for (const [k, v] of Object.entries(clusterEnv())) expect(example, k).toContain(`${k}=${v}`);
  });

  it("every broker has the native cluster's server.properties, apart from its id and addresses; one cluster id", async () => {
    const dir = path.join(tmpDir, 'native');
    fs.mkdirSync(path.join(dir, 'kafka1', 'data'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'kafka1', 'data', 'meta.properties'), '');
    const hosts = { ...loopbackHosts, kafka: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] };
    const base = createContext('cluster', () => undefined);
    await kafka.prepare!({ ...base, ports: { ...defaultPorts.cluster }, hosts, bind: '10.0.0.1', instance: 'kafka1', stateDir: dir });
    const native = Object.fromEntries(
      fs
        .readFileSync(path.join(dir, 'kafka1', 'server.properties'), 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const addresses = ['node.id', 'listeners', 'advertised.listeners', 'controller.quorum.voters', 'listener.security.protocol.map', 'inter.broker.listener.name', 'log.dirs'];
    const toEnv = (k: string) => `KAFKA_${k.replace(/_/g, '___').replace(/-/g, '__').replace(/\./g, '_').toUpperCase()}`;
    const ids = new Set<string>();
    for (const b of brokers) {
      const e = envOf(cluster, b);
      const mismatches = Object.entries(native)
        .filter(([k]) => !addresses.includes(k))
        .filter(([k, v]) => e[toEnv(k)] !== v)
        .map(([k, v]) => `${b} ${toEnv(k)}: native ${v}, compose ${e[toEnv(k)]}`);
      expect(mismatches).toEqual([]);
      expect(e.KAFKA_CONTROLLER_QUORUM_VOTERS, b).toBe(clusterEnv().KAFKA_CONTROLLER_QUORUM_VOTERS);
      expect(e.CLUSTER_ID, b).toBe(envOf(cluster, 'kafka').CLUSTER_ID);
      expect(e.KAFKA_ADVERTISED_LISTENERS, b).toContain(`INTERNAL://${b}:29092`);
      ids.add(e.KAFKA_NODE_ID!);
    }
    expect([...ids].sort()).toEqual(['1', '2', '3']);
    expect(native['default.replication.factor']).toBe(String(clusterKafka.replicationFactor));
    expect(native['min.insync.replicas']).toBe(String(clusterKafka.minInsyncReplicas));
    // Without the settings, the single broker of the default stack.
    expect(envOf(plain, 'kafka')).toMatchObject({ KAFKA_CONTROLLER_QUORUM_VOTERS: '1@kafka:9093', KAFKA_DEFAULT_REPLICATION_FACTOR: '1', KAFKA_MIN_INSYNC_REPLICAS: '1' });
  });

  it("connect-2 is the connect image and settings with only its advertised REST host and the brokers' list rewritten", () => {
    const c2 = cluster.services['connect-2']!;
    expect(c2.image).toBe(cluster.services.connect!.image);
    expect(envOf(cluster, 'connect-2')).toEqual(envOf(cluster, 'connect'));
    const script = (c2.entrypoint ?? []).join(' ');
    const rewritten = [...script.matchAll(/-e 's\/\^([\w.]+)=/g)].map((m) => m[1]);
    expect(rewritten.sort()).toEqual(['bootstrap.servers', 'rest.advertised.host.name']);
    expect(script).toContain('rest.advertised.host.name=connect-2');
    expect(script).toContain(`bootstrap.servers=${brokers.map((b) => `${b}:29092`).join(',')}`);
  });

  it('worker-2 is the worker: the same image, command and environment, on the same task queue', () => {
    const w2 = cluster.services['worker-2']!;
    expect(w2.image).toBe(cluster.services.worker!.image);
    expect(w2.command).toEqual(cluster.services.worker!.command);
    expect(envOf(cluster, 'worker-2')).toEqual(envOf(cluster, 'worker'));
    expect(envOf(cluster, 'worker').KAFKA_TOPIC_PARTITIONS).toBe(String(clusterKafka.topicPartitions));
  });

  it('the Temporal server is temporalio/server on the postgres service with its Web UI; every client follows TEMPORAL_SERVICE', () => {
    expect(cluster.services['temporal-server']!.image).toMatch(/^temporalio\/server:\d+\.\d+\.\d+$/);
    expect(envOf(cluster, 'temporal-server')).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres' });
    expect(cluster.services['temporal-ui']!.image).toMatch(/^temporalio\/ui:\d+\.\d+\.\d+$/);
    expect(envOf(cluster, 'temporal-ui').TEMPORAL_ADDRESS).toBe('temporal-server:7233');
    for (const name of ['worker', 'worker-2', 'schedule', 'monitor']) {
      expect(envOf(cluster, name).TEMPORAL_ADDRESS, name).toBe('temporal-server:7233');
      expect(envOf(plain, name).TEMPORAL_ADDRESS, name).toBe('temporal:7233');
    }
  });
});
