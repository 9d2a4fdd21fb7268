/**
 * Kafka Connect's REST API: the only way the code reaches Connect. Register
 * or update a connector (PUT its config, then wait until it and its tasks
 * run: what debezium/register.sh does with curl), its state and task
 * configuration, stop / resume / restart, and its committed offsets (read
 * and reset: `npm run recover`).
 */

import type { ConnectorSpec } from '../../catalog/connector.ts';

/** GET /connectors/<name>/status. */
export interface ConnectorStatus {
  /** worker_id: the worker (its advertised host:port) that runs the connector or the task. */
  connector: { state: string; worker_id?: string };
  tasks: { id: number; state: string; worker_id?: string; trace?: string }[];
}

export interface ConnectorState {
  running: boolean;
  /** First lines of a failed task's trace. */
  failure?: string;
  /** table.include.list of each task's configuration. */
  taskTables: string[];
}

/** A failed task's trace, cut to what a line can show. */
const firstLines = (trace: string | undefined): string => (trace ?? 'task FAILED').split('\n').slice(0, 3).join(' | ');

export class KafkaConnect {
  readonly url: string;

  constructor(url: string) {
    this.url = url.replace(/\/$/, '');
  }

  private connector(name: string): string {
    return `${this.url}/connectors/${encodeURIComponent(name)}`;
  }

  private async call(method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, opts: { body?: unknown; timeoutMs?: number; missingOk?: boolean } = {}): Promise<Response | undefined> {
    const res = await fetch(url, {
      method,
      ...(opts.body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(opts.body) } : {}),
      signal: AbortSignal.timeout(opts.timeoutMs ?? (method === 'GET' ? 10_000 : 30_000)),
    });
    if (res.status === 404 && opts.missingOk) return undefined;
    if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    return res;
  }

  private async get<T>(url: string, timeoutMs?: number): Promise<T> {
    return (await (await this.call('GET', url, timeoutMs === undefined ? {} : { timeoutMs }))!.json()) as T;
  }

  /** GET /: the worker's version, or undefined when it does not answer. */
  async version(timeoutMs = 3_000): Promise<string | undefined> {
    return this.get<{ version?: string }>(`${this.url}/`, timeoutMs).then((r) => r.version, () => undefined);
  }

  /** The connector classes the worker has loaded; empty when it does not answer. */
  async pluginClasses(timeoutMs = 3_000): Promise<string[]> {
    return this.get<{ class: string }[]>(`${this.url}/connector-plugins`, timeoutMs).then((r) => r.map((p) => p.class), () => []);
  }

  /** The connector's and its tasks' states; undefined when it is not registered. */
  async status(name: string, timeoutMs?: number): Promise<ConnectorStatus | undefined> {
    const res = await this.call('GET', `${this.connector(name)}/status`, { missingOk: true, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
    return res ? ((await res.json()) as ConnectorStatus) : undefined;
  }

  /** Running with every task, the first failed task's trace, and each task's table list. */
  async state(name: string): Promise<ConnectorState> {
    const status = await this.status(name);
    if (!status) throw new Error(`connector ${name} is not registered at ${this.url}`);
    const tasks = await this.get<{ config: Record<string, string> }[]>(`${this.connector(name)}/tasks`);
    const failed = status.tasks.find((t) => t.state === 'FAILED');
    return {
      running: status.connector.state === 'RUNNING' && status.tasks.length > 0 && status.tasks.every((t) => t.state === 'RUNNING'),
      ...(failed ? { failure: firstLines(failed.trace) } : {}),
      taskTables: tasks.flatMap((t) => (t.config['table.include.list'] ?? '').split(',')),
    };
  }

  /** The names of every registered connector. */
  names(): Promise<string[]> {
    return this.get<string[]>(`${this.url}/connectors`);
  }

  /** The connector's own state: RUNNING, PAUSED, STOPPED, FAILED, UNASSIGNED. */
  async connectorState(name: string): Promise<string> {
    const status = await this.status(name);
    if (!status) throw new Error(`connector ${name} is not registered at ${this.url}`);
    return status.connector.state;
  }

  /** The connector's configuration (slot.name and friends). */
  config(name: string): Promise<Record<string, string>> {
    return this.get<Record<string, string>>(`${this.connector(name)}/config`);
  }

  /** Create or replace the configuration (a stopped connector stays stopped; a running one restarts its tasks). */
  async putConfig(name: string, config: Record<string, string>): Promise<void> {
    await this.call('PUT', `${this.connector(name)}/config`, { body: config });
  }

  /**
   * Create or update the connector and wait until it and every task run (at most `timeoutMs`):
   * what debezium/register.sh does with curl. A failed task fails with its trace's first lines.
   */
  async register(spec: ConnectorSpec, opts: { timeoutMs?: number; log?: (m: string) => void } = {}): Promise<void> {
    const log = opts.log ?? (() => undefined);
    if ((await this.version(5_000)) === undefined) throw new Error(`Kafka Connect is not answering at ${this.url} (is the stack up? npm run stack -- status)`);
    log(`registering connector '${spec.name}' at ${this.url}`);
    await this.putConfig(spec.name, spec.config).catch((err: unknown) => {
      throw new Error(`Kafka Connect rejected the config of ${spec.name}: ${(err as Error).message}`, { cause: err });
    });
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    for (;;) {
      const status = await this.status(spec.name, 5_000).catch(() => undefined);
      const failed = status?.tasks.find((t) => t.state === 'FAILED');
      if (failed) throw new Error(`connector '${spec.name}' failed: ${firstLines(failed.trace)}`);
      if (status && status.connector.state === 'RUNNING' && status.tasks.length > 0 && status.tasks.every((t) => t.state === 'RUNNING')) {
        log(`connector '${spec.name}': RUNNING`);
        return;
      }
      if (Date.now() >= deadline) throw new Error(`connector '${spec.name}' not RUNNING after ${Math.round((opts.timeoutMs ?? 120_000) / 1000)} s (last state: ${status?.connector.state ?? 'UNKNOWN'})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Stop: tasks shut down, configuration kept (the state in which Connect lets offsets be reset). */
  async stop(name: string): Promise<void> {
    await this.call('PUT', `${this.connector(name)}/stop`, { missingOk: true });
  }

  async resume(name: string): Promise<void> {
    await this.call('PUT', `${this.connector(name)}/resume`, { missingOk: true });
  }

  /** Restart the connector and, with `includeTasks`, its tasks (`onlyFailed`: the failed ones). */
  async restart(name: string, opts: { includeTasks?: boolean; onlyFailed?: boolean } = {}): Promise<void> {
    await this.call('POST', `${this.connector(name)}/restart?includeTasks=${opts.includeTasks === true}&onlyFailed=${opts.onlyFailed === true}`);
  }

  /** The committed source offsets (Debezium's Postgres offset: lsn, lsn_proc, lsn_commit, txId, ts_usec), one per source partition. */
  async offsets(name: string): Promise<Record<string, unknown>[]> {
    const r = await this.get<{ offsets: { offset: Record<string, unknown> | null }[] }>(`${this.connector(name)}/offsets`);
    return r.offsets.flatMap((o) => (o.offset ? [o.offset] : []));
  }

  /** Delete the connector (its offsets stay with Connect until reset). */
  async remove(name: string): Promise<void> {
    await this.call('DELETE', this.connector(name), { missingOk: true });
  }

  /** Forget the committed source offsets (the connector must be STOPPED). */
  async resetOffsets(name: string): Promise<void> {
    await this.call('DELETE', `${this.connector(name)}/offsets`, { missingOk: true });
  }
}
