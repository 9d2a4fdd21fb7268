/**
 * The cluster profile's components: each native-stack component placed on
 * the host(s) config/cluster.ts says run it. A component instance is the
 * same component, told its host's address to bind (ctx.bind) and, when its
 * kind runs on several hosts, its own instance name (its state folder,
 * config and pidfile: kafka2, connect1); its process runs inside its host's
 * network namespace (`ip netns exec`, which execs: the recorded pid is the
 * component's own). Postgres' unprivileged user is taken inside the
 * namespace with setpriv, which also execs.
 */
import type { ClusterHost, ClusterPlan } from '../../config/cluster.ts';
import { hostsRunning } from '../../config/cluster.ts';
import { userIds } from '../lib/process.ts';
import type { Component, ProcessSpec, StackContext } from '../lib/types.ts';

/** A spec run inside a namespace (as its user, when it names one). */
export function inNamespace(namespace: string, spec: ProcessSpec): ProcessSpec {
  const { user, ...rest } = spec;
  const ids = user ? userIds(user) : undefined;
  const asUser = ids ? ['setpriv', `--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--init-groups', '--'] : [];
  return { ...rest, command: 'ip', args: ['netns', 'exec', namespace, ...asUser, spec.command, ...spec.args] };
}

/** The name of a component on a host: its own name, or the host's when several hosts run it. */
function instanceName(plan: ClusterPlan, base: Component, host: ClusterHost): string {
  return hostsRunning(plan, base.name as ClusterHost['runs'][number]).length > 1 ? host.host : base.name;
}

function onHost(plan: ClusterPlan, base: Component, host: ClusterHost, all: Component[]): Component {
  const name = instanceName(plan, base, host);
  const at = (ctx: StackContext): StackContext => ({ ...ctx, bind: host.address, ...(name !== base.name ? { instance: name } : {}) });
  // A dependency on a kind is a dependency on every instance of it.
  const dependsOn = base.dependsOn.flatMap((d) => {
    const dep = all.find((c) => c.name === d);
    return dep ? hostsRunning(plan, d as ClusterHost['runs'][number]).map((h) => instanceName(plan, dep, h)) : [];
  });
  return {
    ...base,
    name,
    dependsOn,
    // Every host of the topology runs what it is given (clickhouse2 is named-only on loopback, not here).
    optional: false,
    namedOnly: false,
    host: { name: host.host, namespace: host.namespace, address: host.address },
    url: (ctx) => base.url(at(ctx)),
    install: (ctx) => base.install(at(ctx)),
    ...(base.prepare ? { prepare: (ctx: StackContext) => base.prepare!(at(ctx)) } : {}),
    process: async (ctx) => inNamespace(host.namespace, await base.process(at(ctx))),
    healthy: (ctx) => base.healthy(at(ctx)),
    ...(base.afterStart ? { afterStart: (ctx: StackContext) => base.afterStart!(at(ctx)) } : {}),
  };
}

/** Every component instance of the cluster, host by host in the topology's order. */
export function clusterComponents(plan: ClusterPlan, all: Component[]): Component[] {
  return plan.hosts.flatMap((h) =>
    h.runs.map((service) => {
      const base = all.find((c) => c.name === service);
      if (!base) throw new Error(`config/cluster.ts places ${service} on ${h.host}, but the native stack has no such component`);
      return onHost(plan, base, h, all);
    }),
  );
}
