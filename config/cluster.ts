/**
 * The cluster profile's topology, declared once: which hosts exist, the
 * address each gets on the profile's bridge, and what runs on each. Every
 * host is a network namespace (stack/cluster/network.ts makes them); every
 * name the profile gives the kernel (namespaces, veths, the bridge) starts
 * with the prefix, and the addresses come from the subnet, both overridable
 * so that two cluster stacks on one machine never collide:
 *
 *   ASTROS_CLUSTER_PREFIX  (default astros)        names: <prefix>-<host>, <prefix>-br, <prefix>-v<n>
 *   ASTROS_CLUSTER_SUBNET  (default 10.213.0.0/24) the bridge is .1, host n is .(10+n)
 *
 * Ports are the dev profile's (config/profiles.ts): each host has its own
 * address, so nothing collides with a stack on the machine's loopback.
 */

/** What a host runs: a native-stack component by its name in stack/components. */
export type ClusterService = 'postgres' | 'simulator' | 'kafka' | 'registry' | 'temporal' | 'clickhouse' | 'clickhouse2' | 'connect' | 'worker';

export interface ClusterHostSpec {
  /** The host's short name: its namespace is `<prefix>-<host>`; a component instance on it is named after it when there are several of its kind. */
  host: string;
  runs: ClusterService[];
}

/**
 * Three Kafka brokers (each also a KRaft controller: a voter set of three
 * needs no separate controller hosts, and five JVMs is what 24 GiB on two
 * cores holds), two Connect workers in one group, two pipeline workers on the
 * one task queue, two ClickHouse hosts of one replica set (ch2 consumes every
 * topic in its own consumer groups: CLICKHOUSE_REPLICA_URLS names it);
 * everything else once. ch2 comes last so the other hosts keep their addresses.
 */
export const clusterTopology: readonly ClusterHostSpec[] = [
  { host: 'pg', runs: ['postgres'] },
  { host: 'api', runs: ['simulator'] },
  { host: 'kafka1', runs: ['kafka'] },
  { host: 'kafka2', runs: ['kafka'] },
  { host: 'kafka3', runs: ['kafka'] },
  { host: 'registry', runs: ['registry'] },
  { host: 'temporal', runs: ['temporal'] },
  { host: 'ch', runs: ['clickhouse'] },
  { host: 'connect1', runs: ['connect'] },
  { host: 'connect2', runs: ['connect'] },
  { host: 'worker1', runs: ['worker'] },
  { host: 'worker2', runs: ['worker'] },
  { host: 'ch2', runs: ['clickhouse2'] },
];

/**
 * Kafka's settings for the cluster: every topic on all three brokers, a write
 * acknowledged by two, and a captured table's topic in three partitions
 * unless its declaration says otherwise (KAFKA_TOPIC_PARTITIONS moves it).
 */
export const clusterKafka = { replicationFactor: 3, minInsyncReplicas: 2, topicPartitions: 3 } as const;

/**
 * Connect's `scheduled.rebalance.max.delay.ms` in the cluster: how long the group keeps a departed
 * worker's task for it before moving it to another worker (Connect's default is 300 s).
 */
export const clusterConnectRebalanceDelayMs = 10_000;

export const defaultClusterPrefix = 'astros';
export const defaultClusterSubnet = '10.213.0.0/24';

export interface ClusterHost extends ClusterHostSpec {
  /** The host's address on the bridge. */
  address: string;
  /** Its network namespace. */
  namespace: string;
  /** The root side of its veth pair (kernel interface names are at most 15 characters). */
  veth: string;
}

export interface ClusterPlan {
  prefix: string;
  /** The bridge in the root namespace, and its address (the machine's own way onto the hosts). */
  bridge: string;
  bridgeAddress: string;
  /** The subnet's prefix length (24). */
  prefixLength: number;
  hosts: ClusterHost[];
}

/** Where every service of a stack is reached: loopback for dev and test, the hosts' addresses in the cluster. */
export interface ServiceHosts {
  postgres: string;
  simulator: string;
  kafka: string[];
  registry: string;
  temporal: string;
  clickhouse: string;
  /** The second ClickHouse host of the replica set (CLICKHOUSE_REPLICA_URLS), where the profile runs one. */
  clickhouseReplica?: string;
  connect: string[];
}

export const loopbackHosts: ServiceHosts = {
  postgres: '127.0.0.1',
  simulator: '127.0.0.1',
  kafka: ['127.0.0.1'],
  registry: '127.0.0.1',
  temporal: '127.0.0.1',
  clickhouse: '127.0.0.1',
  connect: ['127.0.0.1'],
};

/** The cluster plan from the environment, or the problems with its two variables. */
export function clusterPlan(env: Record<string, string | undefined>, problems: string[] = []): ClusterPlan {
  const prefix = env.ASTROS_CLUSTER_PREFIX || defaultClusterPrefix;
  // `<prefix>-br` and `<prefix>-v12` must fit the kernel's 15 characters.
  if (!/^[a-z][a-z0-9]{0,9}$/.test(prefix)) problems.push(`ASTROS_CLUSTER_PREFIX: ${prefix} must be 1-10 lower-case letters and digits, starting with a letter`);
  const subnet = env.ASTROS_CLUSTER_SUBNET || defaultClusterSubnet;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet);
  const octets = m ? [m[1], m[2], m[3]].map(Number) : [];
  if (!m || octets.some((o) => o > 255)) problems.push(`ASTROS_CLUSTER_SUBNET: ${subnet} must be an IPv4 /24 such as ${defaultClusterSubnet}`);
  const base = m ? octets.join('.') : defaultClusterSubnet.replace(/\.0\/24$/, '');
  return {
    prefix,
    bridge: `${prefix}-br`,
    bridgeAddress: `${base}.1`,
    prefixLength: 24,
    hosts: clusterTopology.map((h, i) => ({ ...h, address: `${base}.${11 + i}`, namespace: `${prefix}-${h.host}`, veth: `${prefix}-v${i + 1}` })),
  };
}

/** The hosts that run a service, in declaration order. */
export const hostsRunning = (plan: ClusterPlan, service: ClusterService): ClusterHost[] => plan.hosts.filter((h) => h.runs.includes(service));

/** Where each service of the cluster is reached. */
export function clusterServiceHosts(plan: ClusterPlan): ServiceHosts {
  const one = (s: ClusterService) => hostsRunning(plan, s)[0]!.address;
  return {
    postgres: one('postgres'),
    simulator: one('simulator'),
    kafka: hostsRunning(plan, 'kafka').map((h) => h.address),
    registry: one('registry'),
    temporal: one('temporal'),
    clickhouse: one('clickhouse'),
    clickhouseReplica: one('clickhouse2'),
    connect: hostsRunning(plan, 'connect').map((h) => h.address),
  };
}
