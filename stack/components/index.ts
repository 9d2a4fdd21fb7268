import type { Component, Profile } from '../lib/types.ts';
import { clusterComponents } from '../cluster/components.ts';
import { config } from '../../config/load.ts';
import { clickhouse, clickhouse2 } from './clickhouse.ts';
import { connect } from './connect.ts';
import { kafka } from './kafka.ts';
import { monitor } from './monitor.ts';
import { postgres } from './postgres.ts';
import { prometheus } from './prometheus.ts';
import { registry } from './registry.ts';
import { seaweedfs } from './seaweedfs.ts';
import { simulator } from './simulator.ts';
import { standby } from './standby.ts';
import { temporal } from './temporal.ts';
import { worker } from './worker.ts';

/**
 * Every long-running component of the native stack, in a sensible start order (prometheus and seaweedfs are optional:
 * started when named; standby, a streaming replica of postgres for failover drills, only when named; clickhouse2, a second ClickHouse host, only when named).
 */
export const allComponents: Component[] = [postgres, kafka, registry, clickhouse, temporal, simulator, connect, worker, monitor, prometheus, seaweedfs, standby, clickhouse2];

/**
 * The components a profile runs. In the test profile the worker is optional
 * and never started by the global setup (each test runs its own worker on its
 * own task queue); a test of the stack's own worker starts it by name.
 */
export function componentsFor(profile: Profile): Component[] {
  // The cluster: the hosts of config/cluster.ts and what each runs (no monitor, prometheus, seaweedfs or standby there).
  if (profile === 'cluster') return clusterComponents(config('cluster').stack.cluster, allComponents);
  return profile === 'test' ? allComponents.map((c) => (c === worker ? { ...worker, optional: true } : c)) : allComponents;
}

/** What the test suite's global setup starts: everything of the test profile but the worker. */
export const testStackComponents = (): string[] => componentsFor('test').filter((c) => c.name !== worker.name && !c.namedOnly).map((c) => c.name);
