/**
 * The project's Temporal worker (cli/worker.ts) as a stack component of the
 * dev profile, so that `up` gives a person a pipeline that runs: workflows
 * started from the Web UI or a schedule are picked up. In the test profile it
 * is optional: each test runs its own worker on its own task queue, and the
 * test of the stack's own worker starts it by name with its own TASK_QUEUE.
 *
 * Without internet access the native stack points the worker at the local
 * simulator; set ASTROS_SOURCE_URL to use another source (e.g. the real API).
 */
import { Connection } from '@temporalio/client';
import { config, parseConfig } from '../../config/load.ts';
import fs from 'node:fs';
import path from 'node:path';
import { stackEnv } from '../lib/endpoints.ts';
import { readLaunch, readPidfile } from '../lib/process.ts';
import type { Component, StackContext } from '../lib/types.ts';

const pidfile = (ctx: StackContext) => path.join(ctx.pidDir, `${ctx.instance ?? 'worker'}.pid`);

/** The task queue the worker serves: what it was started with (its launch record), else what this environment says. */
function target(ctx: StackContext): { taskQueue: string; namespace: string } {
  const launched = readLaunch(pidfile(ctx))?.env;
  const { taskQueue, namespace } = (launched ? parseConfig(launched) : config()).temporal;
  return { taskQueue, namespace };
}

export const worker: Component = {
  name: 'worker',
  dependsOn: ['postgres', 'temporal', 'clickhouse', 'simulator'],
  startTimeoutSeconds: 120,
  url: (ctx) => `task queue ${target(ctx).taskQueue} on ${ctx.hosts.temporal}:${ctx.ports.temporal}`,
  install: async () => {
    // Code from this repository; its npm dependencies are installed with the project.
  },
  process: async (ctx: StackContext) => {
    const env = stackEnv(ctx);
    return {
      command: process.execPath,
      args: ['--import', 'tsx', path.join(ctx.repoRoot, 'cli', 'worker.ts')],
      cwd: ctx.repoRoot,
      env: {
        DATABASE_URL: env.DATABASE_URL,
        TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS,
        CLICKHOUSE_URL: env.CLICKHOUSE_URL,
        ...(env.CLICKHOUSE_REPLICA_URLS ? { CLICKHOUSE_REPLICA_URLS: env.CLICKHOUSE_REPLICA_URLS } : {}),
        KAFKA_BROKERS: env.KAFKA_BROKERS,
        CONNECT_URL: env.CONNECT_URL,
        REGISTRY_URL: env.REGISTRY_URL,
        ...(env.KAFKA_TOPIC_PARTITIONS ? { KAFKA_TOPIC_PARTITIONS: env.KAFKA_TOPIC_PARTITIONS } : {}),
        ...Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('BACKUP_'))),
        // The environment's source, else this stack's simulator.
        ASTROS_SOURCE_URL: config(ctx.profile).source.url,
      },
    };
  },
  /** Healthy = this process (by pid) is polling its task queue. */
  healthy: async (ctx: StackContext) => {
    const rec = readPidfile(pidfile(ctx));
    if (!rec || !fs.existsSync(`/proc/${rec.pid}`)) return false;
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address: `${ctx.hosts.temporal}:${ctx.ports.temporal}`, connectTimeout: 2000 });
      const { namespace, taskQueue } = target(ctx);
      const res = await connection.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue } });
      return (res.pollers ?? []).some((p) => (p.identity ?? '').startsWith(`${rec.pid}@`));
    } catch {
      return false;
    } finally {
      await connection?.close();
    }
  },
};
