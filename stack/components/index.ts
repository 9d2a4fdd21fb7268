import type { Component, Profile } from '../lib/types.ts';
import { clickhouse } from './clickhouse.ts';
import { connect } from './connect.ts';
import { kafka } from './kafka.ts';
import { monitor } from './monitor.ts';
import { postgres } from './postgres.ts';
import { prometheus } from './prometheus.ts';
import { registry } from './registry.ts';
import { seaweedfs } from './seaweedfs.ts';
import { simulator } from './simulator.ts';
import { temporal } from './temporal.ts';
import { worker } from './worker.ts';

/** Every long-running component of the native stack, in a sensible start order (prometheus and seaweedfs are optional: started when named). */
export const allComponents: Component[] = [postgres, kafka, registry, clickhouse, temporal, simulator, connect, worker, monitor, prometheus, seaweedfs];

/**
 * The components a profile runs. The test profile has no standing worker:
 * each test runs its own worker on its own task queue.
 */
export function componentsFor(profile: Profile): Component[] {
  return profile === 'test' ? allComponents.filter((c) => c !== worker) : allComponents;
}
