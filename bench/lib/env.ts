/**
 * Addresses of the native DEV stack for the benchmark (never the test stack:
 * other engineers' tests use it). Environment variables override them; they
 * are read in config/ (the dev profile's addresses, `tools`) and listed in
 * .env.example.
 */
import { config, type Endpoints } from '../../config/load.ts';
import { createContext } from '../../stack/lib/context.ts';
import { stackEnv } from '../../stack/lib/endpoints.ts';

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
  const cfg = config('dev');
  return {
    ...cfg,
    pgUrl: cfg.tools.benchPgUrl ?? (stackEnv(ctx).PG_SUPERUSER_URL ?? '').replace(/\/postgres$/, '/astros'),
    pgRecvlogical: cfg.tools.pgRecvlogical,
    pidDir: ctx.pidDir,
    temporalAddress: cfg.temporal.address,
    temporalNamespace: cfg.temporal.namespace,
    taskQueue: cfg.temporal.taskQueue,
  };
}

/**
 * The environment for the product's own commands run by the bench (`astros
 * tables add`): the dev stack's addresses, under what the environment sets,
 * as for the bench itself.
 */
export function cliEnv(): NodeJS.ProcessEnv {
  return { ...stackEnv(createContext('dev', () => undefined)), ...process.env };
}
