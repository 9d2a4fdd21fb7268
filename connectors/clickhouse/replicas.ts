/**
 * Which ClickHouse replica answers: reads (`ch`, validation, lag, the
 * monitor) go to the configured primary and, when it does not answer, to the
 * next replica that does (config/clickhouse-replicas.ts readOrder). A replica
 * answers when its HTTP interface's /ping does within a short bound.
 */
import { findReplica, readOrder, type ClickHouseReplica } from '../../config/clickhouse-replicas.ts';

export interface ReplicaChoice {
  replica: ClickHouseReplica;
  /** The replicas tried before it that did not answer (empty: the primary answered). */
  skipped: ClickHouseReplica[];
}

/** Whether a ClickHouse HTTP interface answers /ping within `timeoutMs`. */
export async function replicaAnswers(url: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    const res = await fetch(`${url.replace(/\/$/, '')}/ping`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.text();
    return res.ok;
  } catch {
    return false;
  }
}

export class NoReplicaAnswers extends Error {
  constructor(tried: ClickHouseReplica[]) {
    super(`no ClickHouse replica answers: ${tried.map((r) => `${r.name} (${r.url})`).join(', ')} (is the stack up? npm run stack -- status)`);
  }
}

/**
 * The replica to read from: `name` when given (it must answer), else the primary, else the first other that
 * answers. One replica configured: it, unprobed (the caller's own request says whether it answers).
 */
export async function chooseReplica(e: { clickhouseReplicas: ClickHouseReplica[]; clickhousePrimary: string }, name?: string): Promise<ReplicaChoice> {
  if (name !== undefined) {
    const r = findReplica(e.clickhouseReplicas, name);
    if (!(await replicaAnswers(r.url))) throw new NoReplicaAnswers([r]);
    return { replica: r, skipped: [] };
  }
  const order = readOrder(e.clickhouseReplicas, e.clickhousePrimary);
  if (order.length === 1) return { replica: order[0]!, skipped: [] };
  const skipped: ClickHouseReplica[] = [];
  for (const r of order) {
    if (await replicaAnswers(r.url)) return { replica: r, skipped };
    skipped.push(r);
  }
  throw new NoReplicaAnswers(order);
}

/** A line for stderr when a read went past the primary. */
export const failoverLine = (c: ReplicaChoice): string | undefined =>
  c.skipped.length === 0 ? undefined : `${c.skipped.map((r) => `${r.name} (${r.url})`).join(', ')} not answering: reading from ${c.replica.name} (${c.replica.url})`;
