/**
 * The cluster profile's stack as the cluster tests see it: one manager over
 * the hosts of config/cluster.ts, started once by test/cluster/global-setup.ts
 * and reached by every test file of the layer (killing or cutting off a host
 * goes through this same manager and plan).
 */
import { execFileSync } from 'node:child_process';
import { config } from '../../config/load.ts';
import type { ClusterPlan } from '../../config/cluster.ts';
import { networkFor, readNetworkRecord } from '../../stack/cluster/network.ts';
import { componentsFor } from '../../stack/components/index.ts';
import { createContext } from '../../stack/lib/context.ts';
import { StackManager } from '../../stack/lib/manager.ts';

export function clusterPlanOfTests(): ClusterPlan {
  return config('cluster').stack.cluster;
}

export function clusterManager(log: (m: string) => void = () => undefined): StackManager {
  const ctx = createContext('cluster', log);
  return new StackManager(ctx, componentsFor('cluster'), networkFor(ctx, clusterPlanOfTests()));
}

/** The network namespaces on the machine (`ip netns list`). */
export function netnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

/** The machine's interface names (`ip -o link`). */
export function linkNames(): string[] {
  return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

/** What the cluster stack recorded as made by it (bridge, namespaces, veths). */
export const clusterNetworkRecord = () => readNetworkRecord(createContext('cluster').stateDir);
