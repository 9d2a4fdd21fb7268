/**
 * The cluster profile, started once for every cluster test file (on the
 * prefix and subnet of ASTROS_CLUSTER_PREFIX/SUBNET; CI takes the defaults),
 * with the pipeline set up on it. Stopped afterwards (namespaces, veths and
 * bridge removed) unless KEEP_STACK=1. The test stack of the integration
 * layer is not needed here: the cluster has its own state in .stack/cluster.
 */
import { parseConfig } from '../../config/load.ts';
import { setupPipeline } from '../../activities/setup.ts';
import { createContext } from '../../stack/lib/context.ts';
import { stackEnv } from '../../stack/lib/endpoints.ts';
import { clusterManager } from './cluster-stack.ts';

export default async function setup(): Promise<() => Promise<void>> {
  const manager = clusterManager((m) => console.log(m));
  const teardown = async () => {
    if (process.env.KEEP_STACK === '1') {
      console.log('[cluster-setup] KEEP_STACK=1: leaving the cluster running (npm run stack -- down --profile cluster stops it)');
      return;
    }
    const t0 = Date.now();
    await manager.down();
    console.log(`[cluster-setup] cluster down in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  };
  const t0 = Date.now();
  try {
    await manager.up([], { withDbt: true });
    console.log(`[cluster-setup] cluster profile ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const env = stackEnv(createContext('cluster'));
    Object.assign(process.env, env);
    await setupPipeline(parseConfig(env), { log: (m) => console.log(m) });
  } catch (err) {
    // vitest runs no teardown when setup throws: without this a failed setup leaves the cluster running.
    await teardown().catch((e: unknown) => console.log(`[cluster-setup] stopping the cluster after the failure: ${String(e)}`));
    throw err;
  }
  return teardown;
}
