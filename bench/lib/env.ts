/**
 * Addresses of the native DEV stack for the benchmark (never the test stack:
 * other engineers' tests use it). Environment variables override them; they
 * are read in config/env.ts (`endpoints`, `toolEnv`) and listed in
 * .env.example.
 */
import { endpoints, stackSettings, toolEnv, type Endpoints } from '../../config/env.ts';
import { createContext } from '../../stack/lib/context.ts';
import { stackEnv } from '../../stack/lib/endpoints.ts';
import { INGEST_TASK_QUEUE } from '../../shared/workflows.ts';

export interface BenchEnv extends Endpoints {
  /** superuser on the astros database (BENCH_PG_URL): creates the bench tables, runs the workload */
  pgUrl: string;
  /** pg_recvlogical binary for the ceiling (PG_RECVLOGICAL) */
  pgRecvlogical: string;
  /** the dev stack's pidfiles: whose process trees the CPU figures sum */
  pidDir: string;
  /** the dev stack's Temporal and its worker's task queue (the load scenario starts resyncTable there) */
  temporalAddress: string;
  temporalNamespace: string;
  taskQueue: string;
}

export function benchEnv(): BenchEnv {
  const ctx = createContext('dev', () => undefined);
  const s = stackEnv(ctx);
  const tools = toolEnv();
  return {
    ...endpoints(s),
    pgUrl: tools.benchPgUrl ?? (s.PG_SUPERUSER_URL ?? '').replace(/\/postgres$/, '/astros'),
    pgRecvlogical: tools.pgRecvlogical,
    pidDir: ctx.pidDir,
    temporalAddress: s.TEMPORAL_ADDRESS,
    temporalNamespace: stackSettings().worker.namespace ?? 'default',
    taskQueue: stackSettings().worker.taskQueue ?? INGEST_TASK_QUEUE,
  };
}
