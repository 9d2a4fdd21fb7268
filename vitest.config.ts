import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Test layers, chosen with TEST_LAYER:
 *   unit         pure logic, no services (test/unit)
 *   integration  the real native stack, started once by test/global-setup.ts (test/integration)
 *   all          both (default)
 *   cluster      the cluster profile (one host per network namespace; needs root), started once by
 *                test/cluster/global-setup.ts for every file of test/cluster; scripts/test.sh runs it after `all`
 */
const layer = process.env.TEST_LAYER ?? 'all';
const layers: Record<string, string[]> = {
  unit: ['test/unit/**/*.test.ts'],
  integration: ['test/integration/**/*.test.ts'],
  all: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
  cluster: ['test/cluster/**/*.test.ts'],
};
const globalSetups: Record<string, string[]> = { unit: [], cluster: ['test/cluster/global-setup.ts'] };

/**
 * The cluster layer's test of `down` takes the cluster away: it runs after every other file. Before it, the
 * fault test, which kills and cuts off hosts: the other files see the cluster as it started (after a Connect
 * worker was cut off, Connect's status can keep calling the connector UNASSIGNED while it runs elsewhere).
 */
class DownLast extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => (f.moduleId.endsWith('/test/cluster/down.test.ts') ? 2 : f.moduleId.endsWith('/test/cluster/faults.test.ts') ? 1 : 0);
    return [0, 1, 2].flatMap((r) => sorted.filter((f) => rank(f) === r));
  }
}
const include = layers[layer];
if (!include) throw new Error(`TEST_LAYER=${layer} is not one of: ${Object.keys(layers).join(', ')}`);

export default defineConfig({
  test: {
    include,
    globalSetup: globalSetups[layer] ?? ['test/global-setup.ts'],
    ...(layer === 'cluster' ? { sequence: { sequencer: DownLast } } : {}),
    // Integration files share one stack on a 2-core machine: run files one at a time.
    fileParallelism: layer === 'unit',
    testTimeout: layer === 'unit' ? 10_000 : 180_000,
    hookTimeout: layer === 'unit' ? 10_000 : 600_000,
    teardownTimeout: 120_000,
    reporters: ['default'],
  },
});
