import { defineConfig } from 'vitest/config';

/**
 * Test layers, chosen with TEST_LAYER:
 *   unit         pure logic, no services (test/unit)
 *   integration  the real native stack, started once by test/global-setup.ts (test/integration)
 *   all          both (default)
 */
const layer = process.env.TEST_LAYER ?? 'all';
const layers: Record<string, string[]> = {
  unit: ['test/unit/**/*.test.ts'],
  integration: ['test/integration/**/*.test.ts'],
  all: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
};
const include = layers[layer];
if (!include) throw new Error(`TEST_LAYER=${layer} is not one of: ${Object.keys(layers).join(', ')}`);

export default defineConfig({
  test: {
    include,
    globalSetup: layer === 'unit' ? [] : ['test/global-setup.ts'],
    // Integration files share one stack on a 2-core machine: run files one at a time.
    fileParallelism: layer === 'unit',
    testTimeout: layer === 'unit' ? 10_000 : 180_000,
    hookTimeout: layer === 'unit' ? 10_000 : 600_000,
    teardownTimeout: 120_000,
    reporters: ['default'],
  },
});
