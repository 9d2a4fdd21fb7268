/**
 * Kafka Connect's REST API, as far as `tables add` needs it: the connector's
 * state and task configuration (has the reconfiguration reached the task?)
 * and its committed source offsets (where Debezium keeps the state of an
 * incremental snapshot).
 */
export interface ConnectorState {
  running: boolean;
  /** First lines of a failed task's trace. */
  failure?: string;
  /** table.include.list of each task's configuration. */
  taskTables: string[];
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as T;
}

export async function connectorState(connectUrl: string, name: string): Promise<ConnectorState> {
  const base = `${connectUrl.replace(/\/$/, '')}/connectors/${encodeURIComponent(name)}`;
  const status = await getJson<{ connector: { state: string }; tasks: { state: string; trace?: string }[] }>(`${base}/status`);
  const tasks = await getJson<{ config: Record<string, string> }[]>(`${base}/tasks`);
  const failed = status.tasks.find((t) => t.state === 'FAILED');
  return {
    running: status.connector.state === 'RUNNING' && status.tasks.length > 0 && status.tasks.every((t) => t.state === 'RUNNING'),
    ...(failed ? { failure: (failed.trace ?? 'task FAILED').split('\n').slice(0, 3).join(' | ') } : {}),
    taskTables: tasks.flatMap((t) => (t.config['table.include.list'] ?? '').split(',')),
  };
}

/** The connector's committed source offset (Debezium Postgres: lsn, lsn_proc, incremental_snapshot_* ...). */
export async function connectorOffset(connectUrl: string, name: string): Promise<Record<string, unknown>> {
  const r = await getJson<{ offsets: { offset: Record<string, unknown> }[] }>(`${connectUrl.replace(/\/$/, '')}/connectors/${encodeURIComponent(name)}/offsets`);
  return r.offsets[0]?.offset ?? {};
}
