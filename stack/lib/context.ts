import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stackSettings } from '../../config/env.ts';
import type { Ports, Profile, StackContext } from './types.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Usual ports for a person's stack; the test profile uses its own set so the two never collide. */
export const defaultPorts: Record<Profile, Ports> = {
  dev: {
    postgres: 5432,
    postgresStandby: 5433,
    kafka: 9092,
    kafkaController: 9093,
    connect: 8083,
    registry: 8081,
    clickhouseHttp: 8123,
    temporal: 7233,
    temporalUi: 8233,
    simulator: 8090,
    monitor: 9464,
    prometheus: 9090,
    seaweedfs: 8333,
  },
  test: {
    postgres: 25432,
    postgresStandby: 25433,
    kafka: 29092,
    kafkaController: 29093,
    connect: 28083,
    registry: 28081,
    clickhouseHttp: 28123,
    temporal: 27233,
    temporalUi: 28233,
    simulator: 28090,
    monitor: 29464,
    prometheus: 29090,
    seaweedfs: 28333,
  },
};

const portEnv: Record<keyof Ports, string> = {
  postgres: 'PG_PORT',
  postgresStandby: 'PG_STANDBY_PORT',
  kafka: 'KAFKA_PORT',
  kafkaController: 'KAFKA_CONTROLLER_PORT',
  connect: 'CONNECT_PORT',
  registry: 'REGISTRY_PORT',
  clickhouseHttp: 'CLICKHOUSE_HTTP_PORT',
  temporal: 'TEMPORAL_PORT',
  temporalUi: 'TEMPORAL_UI_PORT',
  simulator: 'SIMULATOR_PORT',
  monitor: 'MONITOR_PORT',
  prometheus: 'PROMETHEUS_PORT',
  seaweedfs: 'SEAWEEDFS_PORT',
};

export function cacheDir(): string {
  const s = stackSettings();
  const base = s.cacheDir ?? path.join(s.xdgCacheHome ?? path.join(os.homedir(), '.cache'), 'astros-cdc');
  return path.resolve(base);
}

export function createContext(profile: Profile, progress: (m: string) => void = (m) => console.error(m)): StackContext {
  const ports = { ...defaultPorts[profile] };
  for (const [key, envName] of Object.entries(portEnv) as [keyof Ports, string][]) {
    const raw = stackSettings().port(envName, profile);
    if (raw === undefined) continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${envName}=${raw} is not a valid port (1-65535)`);
    ports[key] = n;
  }
  const stateDir = path.join(stackSettings().stateDir ?? path.join(repoRoot, '.stack'), profile);
  return {
    profile,
    ports,
    repoRoot,
    stateDir,
    cacheDir: cacheDir(),
    logDir: path.join(stateDir, 'logs'),
    pidDir: path.join(stateDir, 'pids'),
    progress,
  };
}
