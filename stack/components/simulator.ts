/**
 * The local astronauts API simulator (simulator/server.ts, run by cli/simulator.ts) as a stack component.
 * Test profile: rotations advance only when a test asks (POST /control);
 * dev profile: one rotation step per minute, so scheduled ingests see changes.
 */
import path from 'node:path';
import type { Component, StackContext } from '../lib/types.ts';

async function get(url: string, timeoutMs: number): Promise<Response | undefined> {
  try {
    return await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch {
    return undefined;
  }
}

export const simulator: Component = {
  name: 'simulator',
  dependsOn: [],
  url: (ctx: StackContext) => `http://${ctx.hosts.simulator}:${ctx.ports.simulator}/astros.json`,
  install: async () => {
    // Pure TypeScript from this repository: nothing to download.
  },
  process: async (ctx: StackContext) => ({
    command: process.execPath,
    args: [
      '--import',
      'tsx',
      path.join(ctx.repoRoot, 'cli', 'simulator.ts'),
      '--port',
      String(ctx.ports.simulator),
      '--host',
      ctx.bind,
      '--step-seconds',
      ctx.profile === 'test' ? '0' : '60',
    ],
    cwd: ctx.repoRoot,
  }),
  healthy: async (ctx: StackContext) => {
    const res = await get(`http://${ctx.hosts.simulator}:${ctx.ports.simulator}/health`, 2_000);
    return res?.ok === true;
  },
  startTimeoutSeconds: 20,
};
