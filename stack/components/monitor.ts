/**
 * The pipeline monitor (cli/monitor.ts) as a stack component: Prometheus
 * metrics on /metrics, the pipeline page on /, alerts to ALERT_WEBHOOK_URL.
 * It starts after the pipeline's components and reports those that do not
 * answer as down rather than failing.
 */
import path from 'node:path';
import { stackEnv } from '../lib/endpoints.ts';
import type { Component, StackContext } from '../lib/types.ts';

const url = (ctx: StackContext) => `http://127.0.0.1:${ctx.ports.monitor}`;

export const monitor: Component = {
  name: 'monitor',
  dependsOn: ['postgres', 'kafka', 'registry', 'clickhouse', 'temporal', 'connect'],
  startTimeoutSeconds: 60,
  url: (ctx) => `${url(ctx)}/ (page), ${url(ctx)}/metrics`,
  install: async () => {
    // Code from this repository; prom-client comes with the project's npm packages.
  },
  process: async (ctx) => {
    const env = stackEnv(ctx);
    // The addresses of this stack; thresholds, interval and webhook come from the caller's environment (.env.example).
    const addresses = ['DATABASE_URL', 'CLICKHOUSE_URL', 'KAFKA_BROKERS', 'CONNECT_URL', 'REGISTRY_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_UI_URL', 'MONITOR_PORT'] as const;
    return {
      command: process.execPath,
      args: ['--import', 'tsx', path.join(ctx.repoRoot, 'cli', 'monitor.ts'), 'run', '--profile', ctx.profile],
      cwd: ctx.repoRoot,
      env: { ...Object.fromEntries(addresses.map((k) => [k, env[k]!])), ...(env.CLICKHOUSE_REPLICA_URLS ? { CLICKHOUSE_REPLICA_URLS: env.CLICKHOUSE_REPLICA_URLS } : {}) },
    };
  },
  healthy: async (ctx) => {
    try {
      return (await fetch(`${url(ctx)}/health`, { signal: AbortSignal.timeout(2_000) })).ok;
    } catch {
      return false;
    }
  },
};
