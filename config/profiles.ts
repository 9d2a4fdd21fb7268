/**
 * The native stack's profiles as defaults of the one configuration: each
 * profile's ports (every one overridable: `PG_PORT`, ..., `TEST_`-prefixed
 * for the test profile), the roles and development passwords, where its state
 * lives, and the addresses all of that makes (`DATABASE_URL`,
 * `CLICKHOUSE_URL`, ...). `parseConfig(env, { profile })` lays a profile's
 * addresses under the environment; without a profile the schema's defaults
 * are the dev profile's addresses (config/schema.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipelineNames } from '../shared/names.ts';
import { repoRoot } from './paths.ts';
import { clusterKafka, clusterServiceHosts, loopbackHosts, type ClusterPlan, type ServiceHosts } from './cluster.ts';

/** dev: a person's stack; test: the test suite's own ports; cluster: one host per network namespace (config/cluster.ts). */
export type Profile = 'dev' | 'test' | 'cluster';
export const profiles: readonly Profile[] = ['dev', 'test', 'cluster'];

export interface Ports {
  postgres: number;
  /** The optional streaming standby of postgres (stack/components/standby.ts). */
  postgresStandby: number;
  kafka: number;
  kafkaController: number;
  connect: number;
  registry: number;
  clickhouseHttp: number;
  /** The optional second ClickHouse host (stack/components/clickhouse.ts clickhouse2). */
  clickhouseReplicaHttp: number;
  temporal: number;
  temporalUi: number;
  simulator: number;
  monitor: number;
  prometheus: number;
  /** SeaweedFS' S3 API; its master, volume and filer take the next seven ports. */
  seaweedfs: number;
}

/** The usual ports: a person's stack, and each host of the cluster (every host has its own address). */
const usualPorts: Ports = {
  postgres: 5432,
  postgresStandby: 5433,
  kafka: 9092,
  kafkaController: 9093,
  connect: 8083,
  registry: 8081,
  clickhouseHttp: 8123,
  clickhouseReplicaHttp: 8124,
  temporal: 7233,
  temporalUi: 8233,
  simulator: 8090,
  monitor: 9464,
  prometheus: 9090,
  seaweedfs: 8333,
};

/** Ports per profile; the test profile uses its own set so it never collides with a person's stack. */
export const defaultPorts: Record<Profile, Ports> = {
  dev: usualPorts,
  test: {
    postgres: 25432,
    postgresStandby: 25433,
    kafka: 29092,
    kafkaController: 29093,
    connect: 28083,
    registry: 28081,
    clickhouseHttp: 28123,
    clickhouseReplicaHttp: 28124,
    temporal: 27233,
    temporalUi: 28233,
    simulator: 28090,
    monitor: 29464,
    prometheus: 29090,
    seaweedfs: 28333,
  },
  // Each host of the cluster has its own address: the usual ports collide with nothing.
  cluster: usualPorts,
};

/** The variable that moves each port (`TEST_<name>` for the test profile). */
export const portEnv: Record<keyof Ports, string> = {
  postgres: 'PG_PORT',
  postgresStandby: 'PG_STANDBY_PORT',
  kafka: 'KAFKA_PORT',
  kafkaController: 'KAFKA_CONTROLLER_PORT',
  connect: 'CONNECT_PORT',
  registry: 'REGISTRY_PORT',
  clickhouseHttp: 'CLICKHOUSE_HTTP_PORT',
  clickhouseReplicaHttp: 'CLICKHOUSE_REPLICA_HTTP_PORT',
  temporal: 'TEMPORAL_PORT',
  temporalUi: 'TEMPORAL_UI_PORT',
  simulator: 'SIMULATOR_PORT',
  monitor: 'MONITOR_PORT',
  prometheus: 'PROMETHEUS_PORT',
  seaweedfs: 'SEAWEEDFS_PORT',
};

export const profileVar = (name: string, profile: Profile): string => `${profile === 'test' ? 'TEST_' : ''}${name}`;

/** A profile's defaults that are not addresses: the cluster's topics have three partitions. */
export function profileSettings(profile: Profile): Record<string, string> {
  return profile === 'cluster' ? { KAFKA_TOPIC_PARTITIONS: String(clusterKafka.topicPartitions) } : {};
}

/** Where a profile's services are reached: loopback, or the cluster's hosts. */
export function profileHosts(profile: Profile, plan: ClusterPlan): ServiceHosts {
  return profile === 'cluster' ? clusterServiceHosts(plan) : loopbackHosts;
}

/** The profile's ports with the environment's overrides; an override that is not a port is a problem, listed with the others. */
export function profilePorts(profile: Profile, env: Record<string, string | undefined>, problems: string[] = []): Ports {
  const ports = { ...defaultPorts[profile] };
  for (const [key, name] of Object.entries(portEnv) as [keyof Ports, string][]) {
    const v = profileVar(name, profile);
    const raw = env[v];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 65535) problems.push(`${v}: ${raw} is not a valid port (1-65535)`);
    else ports[key] = n;
  }
  return ports;
}

/**
 * The roles. Passwords: the dev profile keeps fixed development values (what
 * .env.example's DATABASE_URL and `npm run quickstart` use; loopback only);
 * the test and cluster profiles' are generated at their first start (profilePasswords).
 * docker-compose reads them from .env.
 */
export const pgRoles = {
  superuser: { user: 'postgres', password: 'postgres' },
  app: { user: 'astros', password: 'astros', database: 'astros' },
  cdc: { user: pipelineNames.cdcRole, password: 'astros_cdc' },
} as const;

export type PgRole = keyof typeof pgRoles;
export type Passwords = Record<PgRole, string>;

export const devPasswords: Passwords = { superuser: pgRoles.superuser.password, app: pgRoles.app.password, cdc: pgRoles.cdc.password };

/** `<ASTROS_STATE_DIR or <repo>/.stack>/<profile>`: the stack's data, pidfiles and logs. */
export function stateDirOf(profile: Profile, env: Record<string, string | undefined>): string {
  return path.join(env.ASTROS_STATE_DIR || path.join(repoRoot, '.stack'), profile);
}

/** The per-user download cache every clone shares (`~/.cache/astros-cdc`; ASTROS_CACHE_DIR or XDG_CACHE_HOME move it). */
export function cacheDirOf(env: Record<string, string | undefined>): string {
  return path.resolve(env.ASTROS_CACHE_DIR || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'astros-cdc'));
}

/** Where the test profile keeps the passwords it generated (mode 600). */
export const passwordFile = (stateDir: string): string => path.join(stateDir, 'postgres', 'passwords.json');

/** The passwords of a profile's roles: the test or cluster profile's generated ones once they exist, else the development ones. */
export function profilePasswords(profile: Profile, stateDir: string): Passwords {
  if (profile === 'dev') return devPasswords;
  try {
    return JSON.parse(fs.readFileSync(passwordFile(stateDir), 'utf8')) as Passwords;
  } catch {
    return devPasswords;
  }
}

/** A role's URL on a profile's Postgres (or, with `port`, another server of the same cluster: the standby). */
export function roleUrl(passwords: Passwords, role: PgRole, port: number, host = loopbackHosts.postgres): string {
  const r = pgRoles[role];
  const db = role === 'superuser' ? 'postgres' : pgRoles.app.database;
  return `postgres://${r.user}:${encodeURIComponent(passwords[role])}@${host}:${port}/${db}`;
}

/** The addresses of a profile's stack, as the variables the worker, the CLIs and the tests read (see .env.example). */
export function profileAddresses(ports: Ports, passwords: Passwords, hosts: ServiceHosts = loopbackHosts): Record<string, string> {
  return {
    DATABASE_URL: roleUrl(passwords, 'app', ports.postgres, hosts.postgres),
    PG_SUPERUSER_URL: roleUrl(passwords, 'superuser', ports.postgres, hosts.postgres),
    TEMPORAL_ADDRESS: `${hosts.temporal}:${ports.temporal}`,
    TEMPORAL_UI_URL: `http://${hosts.temporal}:${ports.temporalUi}`,
    CLICKHOUSE_URL: `http://${hosts.clickhouse}:${ports.clickhouseHttp}`,
    // The cluster's second ClickHouse host: setup, the worker, the monitor and validation use both.
    ...(hosts.clickhouseReplica ? { CLICKHOUSE_REPLICA_URLS: `http://${hosts.clickhouseReplica}:${ports.clickhouseReplicaHttp}` } : {}),
    KAFKA_BROKERS: hosts.kafka.map((h) => `${h}:${ports.kafka}`).join(','),
    CONNECT_URL: `http://${hosts.connect[0]!}:${ports.connect}`,
    REGISTRY_URL: `http://${hosts.registry}:${ports.registry}`,
    SIMULATOR_URL: `http://${hosts.simulator}:${ports.simulator}`,
    MONITOR_PORT: String(ports.monitor),
    MONITOR_URL: `http://127.0.0.1:${ports.monitor}`,
    PROMETHEUS_URL: `http://127.0.0.1:${ports.prometheus}`,
    ASTROS_SOURCE_URL: `http://${hosts.simulator}:${ports.simulator}/astros.json`,
  };
}

/** The directory a profile's ClickHouse may write backups to (its backups.allowed_path), the default BACKUP_TARGET. */
export const backupsDirOf = (stateDir: string): string => path.join(stateDir, 'backups');

/** Where a profile's stack keeps the S3 credentials its SeaweedFS made at its first start (mode 600). */
export const seaweedCredentialsFile = (stateDir: string): string => path.join(stateDir, 'seaweedfs', 'credentials.json');

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** The stack's SeaweedFS credentials, once its first start made them. */
export function seaweedCredentials(stateDir: string): S3Credentials | undefined {
  try {
    return JSON.parse(fs.readFileSync(seaweedCredentialsFile(stateDir), 'utf8')) as S3Credentials;
  } catch {
    return undefined;
  }
}

/**
 * A profile's backup settings as variables: the directory its ClickHouse may write (backups.allowed_path),
 * pg_basebackup as the replication role, its SeaweedFS S3 API (with the credentials once made).
 */
export function profileBackup(ports: Ports, passwords: Passwords, stateDir: string, hosts: ServiceHosts = loopbackHosts): Record<string, string> {
  const s3 = seaweedCredentials(stateDir);
  return {
    BACKUP_TARGET: backupsDirOf(stateDir),
    BACKUP_PG_URL: roleUrl(passwords, 'cdc', ports.postgres, hosts.postgres),
    BACKUP_S3_ENDPOINT: `http://127.0.0.1:${ports.seaweedfs}`,
    ...(s3 ? { BACKUP_S3_ACCESS_KEY_ID: s3.accessKeyId, BACKUP_S3_SECRET_ACCESS_KEY: s3.secretAccessKey } : {}),
  };
}
