/**
 * Kafka Connect's REST API, as far as the pipeline's workflows need it: the
 * connector's state and task configuration (has a reconfiguration by
 * `tables add|remove` reached the task?), and stopping, resetting the
 * offsets of and resuming a connector (`npm run recover`).
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

async function send(method: 'PUT' | 'DELETE', url: string): Promise<void> {
  const res = await fetch(url, { method, signal: AbortSignal.timeout(30_000) });
  if (!res.ok && res.status !== 404) throw new Error(`${method} ${url}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
}

const connectorUrl = (connectUrl: string, name: string) => `${connectUrl.replace(/\/$/, '')}/connectors/${encodeURIComponent(name)}`;

/** The connector's configuration (slot.name and friends). */
export function connectorConfigOf(connectUrl: string, name: string): Promise<Record<string, string>> {
  return getJson<Record<string, string>>(`${connectorUrl(connectUrl, name)}/config`);
}

/** The connector's own state: RUNNING, PAUSED, STOPPED, FAILED, UNASSIGNED. */
export async function connectorStatus(connectUrl: string, name: string): Promise<string> {
  return (await getJson<{ connector: { state: string } }>(`${connectorUrl(connectUrl, name)}/status`)).connector.state;
}

/** Stop (tasks shut down, configuration kept: the state in which Connect lets offsets be reset). */
export const stopConnector = (connectUrl: string, name: string) => send('PUT', `${connectorUrl(connectUrl, name)}/stop`);
export const resumeConnector = (connectUrl: string, name: string) => send('PUT', `${connectorUrl(connectUrl, name)}/resume`);
/** The committed source offsets (Debezium's Postgres offset: lsn, lsn_proc, lsn_commit, txId, ts_usec), one per source partition. */
export async function connectorOffsets(connectUrl: string, name: string): Promise<Record<string, unknown>[]> {
  const r = await getJson<{ offsets: { offset: Record<string, unknown> | null }[] }>(`${connectorUrl(connectUrl, name)}/offsets`);
  return r.offsets.flatMap((o) => (o.offset ? [o.offset] : []));
}
/** Forget the committed source offsets (the connector must be STOPPED). */
export const resetConnectorOffsets = (connectUrl: string, name: string) => send('DELETE', `${connectorUrl(connectUrl, name)}/offsets`);

/** Replace the connector's configuration (a stopped connector stays stopped). */
export async function putConnectorConfig(connectUrl: string, name: string, config: Record<string, string>): Promise<void> {
  const url = `${connectorUrl(connectUrl, name)}/config`;
  const res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config), signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`PUT ${url}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
}
