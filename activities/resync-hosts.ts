/**
 * The ClickHouse hosts a resync reaches: every host of the replica set
 * (config/clickhouse-replicas.ts), ch1 through the worker's own client, the
 * others through clients made for the step. Each host holds the same tables
 * (only its consumer groups differ), so each gets the same shadow, the same
 * loaded rows at the same version L, its own catch-up and its own EXCHANGE:
 * a reload leaves every host exact, not ch1 alone.
 *
 * A host that does not answer fails the step with a line naming it (a plain
 * error: Temporal retries the step, which covers a host being restarted;
 * when retries run out, the resync fails, before the swap with the live
 * copies untouched). Skipping it instead would leave that host with a copy
 * the reload was meant to replace and nothing to say so; a resync is run
 * again, with the host back, in one command.
 *
 * Another pipeline's table (a resync target: the benchmark's own) exists on
 * ch1 only: its resync reaches ch1 only.
 */
import { createClickHouse, type ClickHouseClient } from '../connectors/clickhouse/client.ts';
import { replicaAnswers } from '../connectors/clickhouse/replicas.ts';
import { replicaEndpoints, type ClickHouseReplica } from '../config/clickhouse-replicas.ts';
import type { Endpoints } from '../config/load.ts';

export interface ResyncHost {
  replica: ClickHouseReplica;
  ch: ClickHouseClient;
  /** The pipeline's endpoints as this host sees them (its URL, its consumer groups). */
  env: Endpoints;
}

/** Why a step cannot reach a host, in one line with the fix. */
export const hostDownMessage = (r: ClickHouseReplica): string =>
  `ClickHouse replica ${r.name} (${r.url}) does not answer: a resync reloads every replica, so it waits for ${r.name} ` +
  `(bring it back, e.g. npm run stack -- up ${r.name === 'ch2' ? 'clickhouse2' : 'clickhouse'}, then run the resync again if it failed)`;

/**
 * Runs `work` with every host the resync reaches (ch1 first). `skipDown`: a host that does not answer is left
 * out and named through `log` instead of failing the step (dropping shadow objects: the next resync drops them anyway).
 */
export async function withResyncHosts<T>(
  deps: { clickhouse: ClickHouseClient; endpoints: Endpoints },
  opts: { ch1Only: boolean; skipDown?: (m: string) => void },
  work: (hosts: ResyncHost[]) => Promise<T>,
): Promise<T> {
  const replicas = deps.endpoints.clickhouseReplicas ?? [];
  const [first, ...others] = replicas;
  const ch1: ResyncHost = { replica: first ?? { name: 'ch1', url: deps.endpoints.clickhouseUrl, groupPrefix: deps.endpoints.groupPrefix }, ch: deps.clickhouse, env: deps.endpoints };
  if (opts.ch1Only || others.length === 0) return work([ch1]);
  const hosts: ResyncHost[] = [];
  try {
    for (const r of replicas) {
      if (!(await replicaAnswers(r.url))) {
        if (!opts.skipDown) throw new Error(hostDownMessage(r));
        opts.skipDown(`${r.name} (${r.url}) does not answer: skipped`);
        continue;
      }
      hosts.push(r === first ? ch1 : { replica: r, ch: createClickHouse(r.url, { requestTimeoutMs: 120_000 }), env: replicaEndpoints(deps.endpoints, r) });
    }
    return await work(hosts);
  } finally {
    for (const h of hosts) if (h !== ch1) await h.ch.close();
  }
}
