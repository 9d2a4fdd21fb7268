/**
 * One native stack for the whole integration run, on the test profile's own
 * ports (see stack/lib/context.ts) so it never collides with a person's stack.
 * Left running afterwards when KEEP_STACK=1 (fast reruns); stopped otherwise.
 * The test stack includes Prometheus (optional elsewhere; its package also
 * brings the promtool the monitor tests run) but not the worker (tests run
 * their own), and Debian's chromium for the tests that load the pipeline page.
 */
import { componentsFor, testStackComponents } from '../stack/components/index.ts';
import { createContext } from '../stack/lib/context.ts';
import { stackEnv } from '../stack/lib/endpoints.ts';
import { StackManager } from '../stack/lib/manager.ts';
import { aptInstall } from '../stack/lib/apt.ts';
import { parseConfig } from '../config/load.ts';
import { setupPipeline } from '../activities/setup.ts';
import { testTables } from './test-tables.ts';

/** Debian's chromium: what the page tests drive through puppeteer-core (never a downloaded browser). */
export const chromiumPath = '/usr/bin/chromium';

export default async function setup(): Promise<() => Promise<void>> {
  const ctx = createContext('test', (m) => console.log(m));
  const manager = new StackManager(ctx, componentsFor('test'));
  const teardown = async () => {
    if (process.env.KEEP_STACK === '1') {
      console.log('[global-setup] KEEP_STACK=1: leaving the test stack running (npm run stack -- down --profile test stops it)');
      return;
    }
    await manager.down();
  };
  const t0 = Date.now();
  try {
    await Promise.all([
      manager.up(testStackComponents(), { withDbt: true }),
      aptInstall({ component: 'tests (pipeline page)', packages: ['chromium'], provides: chromiumPath, recommends: false }, (m) => console.log(m)),
    ]);
    console.log(`[global-setup] native stack (test profile) ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const env = stackEnv(ctx);
    Object.assign(process.env, env);
    await setupPipeline(parseConfig(env), { declare: testTables, log: (m) => console.log(m) });
  } catch (err) {
    // vitest runs no teardown when setup throws: without this a failed setup leaves the stack running.
    await teardown().catch((e: unknown) => console.log(`[global-setup] stopping the stack after the failure: ${String(e)}`));
    throw err;
  }
  return teardown;
}
