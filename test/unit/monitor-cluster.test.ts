/**
 * What the monitor makes of a Kafka cluster with a broker missing and of a
 * connector task's worker: the series (brokers up and down, under-replicated
 * partitions per topic, offline partitions, the task's worker), the
 * broker-down alert once and its recovery once, the page's Kafka and
 * Debezium stages, and a connector task that stays neither RUNNING nor FAILED.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { AlertEngine, alertText } from '../../monitor/alerts.ts';
import type { ConnectorSample, Snapshot } from '../../monitor/collect.ts';
import type { MonitorHistory } from '../../monitor/history.ts';
import { MonitorMetrics } from '../../monitor/metrics.ts';
import { renderPage } from '../../monitor/page.ts';

const defaults = parseConfig({}, { profile: 'dev' });
const brokers = ['10.0.0.13:9092', '10.0.0.14:9092', '10.0.0.15:9092'];

function snapshot(down: string[]): Snapshot {
  const short = down.length > 0;
  return {
    at: 0,
    tableStates: [],
    components: { postgres: true, kafka: true, connect: true, registry: true, clickhouse: true, temporal: true },
    lag: undefined,
    slots: [],
    captureGaps: [],
    slotLimitBytes: null,
    tables: [],
    connector: { name: 'c', state: 'RUNNING', worker: '10.0.0.20:8083', tasks: [{ id: 0, state: 'RUNNING', worker: '10.0.0.19:8083' }] },
    kafkaCluster: {
      brokers: brokers.map((address, i) => ({ address, nodeId: down.includes(address) ? null : i + 1, up: !down.includes(address) })),
      underReplicated: short
        ? [
            { topic: 'astros.public.t', partition: 0, replicas: [1, 2, 3], isr: [1, 3] },
            { topic: 'astros.public.t', partition: 2, replicas: [2, 3, 1], isr: [3, 1] },
            { topic: 'astros-connect-offsets', partition: 1, replicas: [2, 1, 3], isr: [1, 3] },
          ]
        : [],
      offline: [],
    },
    ingest: { runs: {}, rejects: 0, lastAppliedAt: null, consecutiveFailures: 0, recentWorkflows: [] },
    validations: [],
    recentValidations: [],
    recentDeadLetters: [],
    recentRejects: [],
  };
}

describe('the monitor on a Kafka cluster', () => {
  it('exports brokers up and down, under-replicated partitions per topic and where the task runs', async () => {
    const m = new MonitorMetrics();
    m.apply(snapshot(['10.0.0.14:9092']), 0.1);
    const text = await m.registry.metrics();
    for (const line of [
      'astros_kafka_broker_up{broker="10.0.0.13:9092"} 1',
      'astros_kafka_broker_up{broker="10.0.0.14:9092"} 0',
      'astros_kafka_brokers_down 1',
      'astros_kafka_under_replicated_partitions{topic="astros.public.t"} 2',
      'astros_kafka_under_replicated_partitions{topic="astros-connect-offsets"} 1',
      'astros_kafka_offline_partitions 0',
      'astros_connector_task_worker{connector="c",task="0",worker="10.0.0.19:8083"} 1',
    ]) expect(text).toContain(line);
    // Whole again: no topic is short of replicas any more.
    m.apply(snapshot([]), 0.1);
    const whole = await m.registry.metrics();
    expect(whole).toContain('astros_kafka_brokers_down 0');
    expect(whole).not.toContain('astros_kafka_under_replicated_partitions{');
  });

  it('a broker down fires its alert once and recovers once when it is back', async () => {
    const engine = new AlertEngine(defaults.monitor.rules.filter((r) => r.kind === 'kafka_broker_down'));
    const m = new MonitorMetrics();
    const at = async (t: number, down: string[]) => {
      m.apply(snapshot(down), 0.1);
      return engine.evaluate(t, await m.series());
    };
    expect(await at(0, [])).toEqual([]);
    const fired = await at(1_000, ['10.0.0.14:9092']);
    expect(fired.map((e) => e.state)).toEqual(['firing']);
    expect(alertText(fired[0]!)).toMatch(/^\[FIRING\] kafka_broker_down \(\): a broker of KAFKA_BROKERS is missing/);
    expect(await at(2_000, ['10.0.0.14:9092'])).toEqual([]);
    expect((await at(3_000, [])).map((e) => e.state)).toEqual(['resolved']);
  });

  it('the page names the broker down, the partitions short of replicas and the worker that runs the task', async () => {
    const history = { points: async () => [], recentAlerts: async () => [] } as unknown as MonitorHistory;
    const html = await renderPage({ cfg: defaults, snapshot: snapshot(['10.0.0.14:9092']), history, firing: [] });
    const stage = (id: string) => new RegExp(`data-stage="${id}" data-health="(\\w+)">(.*?)</div></div>`).exec(html);
    expect(stage('kafka')?.[1]).toBe('warn');
    expect(stage('kafka')?.[2]).toContain('brokers up 2/3');
    expect(stage('kafka')?.[2]).toContain('10.0.0.14:9092 DOWN');
    expect(stage('kafka')?.[2]).toContain('under-replicated partitions 3, offline 0');
    expect(stage('debezium')?.[2]).toContain('RUNNING on 10.0.0.19:8083');
    const whole = await renderPage({ cfg: defaults, snapshot: snapshot([]), history, firing: [] });
    expect(whole).toMatch(/data-stage="kafka" data-health="ok">/);
    expect(whole).not.toContain('data-broker-down');
  });
});

describe('a connector task not running', () => {
  const tasks = (...states: string[]): ConnectorSample => ({ name: 'c', state: 'RUNNING', tasks: states.map((state, id) => ({ id, state })) });
  const notRunning = async (c: ConnectorSample) => {
    const m = new MonitorMetrics();
    m.apply({ ...snapshot([]), connector: undefined, connectors: [c] }, 0.1);
    return (await m.series()).find((x) => x.metric === 'astros_connector_tasks_not_running')?.value;
  };

  it('counts UNASSIGNED, PAUSED and RESTARTING tasks and a connector without a task; not FAILED (its own alert) nor an unregistered connector', async () => {
    expect(await notRunning(tasks('RUNNING'))).toBe(0);
    expect(await notRunning(tasks('UNASSIGNED', 'PAUSED', 'RESTARTING', 'FAILED', 'RUNNING'))).toBe(3);
    expect(await notRunning(tasks())).toBe(1);
    expect(await notRunning({ name: 'c', state: 'NOT REGISTERED', tasks: [] })).toBeUndefined();
  });

  it('alerts once when it stays so past ALERT_CONNECTOR_NOT_RUNNING_FOR (not during a rebalance), and recovers once', async () => {
    const rules = parseConfig({ ALERT_CONNECTOR_NOT_RUNNING_FOR: '2m' }, { profile: 'dev' }).monitor.rules.filter((r) => r.kind === 'connector_not_running');
    const engine = new AlertEngine(rules);
    const m = new MonitorMetrics();
    const at = async (t: number, state: string) => {
      m.apply({ ...snapshot([]), connector: undefined, connectors: [tasks(state)] }, 0.1);
      return engine.evaluate(t, await m.series()).map((e) => alertText(e).split(':')[0]);
    };
    expect(await at(0, 'UNASSIGNED')).toEqual([]);
    expect(await at(30_000, 'RUNNING')).toEqual([]); // a task that moved within the window: nothing said
    expect(await at(40_000, 'UNASSIGNED')).toEqual([]);
    expect(await at(159_000, 'UNASSIGNED')).toEqual([]);
    expect(await at(160_000, 'UNASSIGNED')).toEqual(['[FIRING] connector_not_running (connector=c)']);
    expect(await at(200_000, 'PAUSED')).toEqual([]);
    expect(await at(210_000, 'RUNNING')).toEqual(['[RESOLVED] connector_not_running (connector=c)']);
  });
});
