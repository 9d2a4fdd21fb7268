/**
 * The monitor's pure parts: alert evaluation from the threshold table, the
 * Slack-compatible payload, the generated rules (docker/prometheus/rules.yml
 * up to date), the metrics set from a snapshot, the dashboard's metric names,
 * and the chart helpers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pipelineNames } from '../../shared/names.ts';
import { parseConfig } from '../../config/load.ts';
import { alertRules, prometheusRules, promExpr, type ResolvedRule } from '../../config/alert-rules.ts';
import { AlertEngine, alertText, slackPayload } from '../../monitor/alerts.ts';
import { intervalAverage, lineChart, rate } from '../../monitor/charts.ts';
import type { Snapshot } from '../../monitor/collect.ts';
import type { MonitorHistory } from '../../monitor/history.ts';
import { MonitorMetrics } from '../../monitor/metrics.ts';
import { renderPage } from '../../monitor/page.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const defaults = parseConfig({}, { profile: 'dev' });
const rule = (kind: string, over: Partial<ResolvedRule> = {}): ResolvedRule => ({ ...defaults.monitor.rules.find((r) => r.kind === kind)!, ...over });

describe('alerts from the threshold table', () => {
  it('fires once after the condition held for `for`, stays quiet while it lasts, then recovers once', () => {
    const lag = rule('consumer_lag', { value: 100, forMs: 60_000, forText: '1m' });
    const engine = new AlertEngine([lag]);
    const s = (v: number) => [{ metric: 'astros_kafka_consumer_lag_messages', labels: { table: 'public.t' }, value: v }];
    expect(engine.evaluate(0, s(500))).toEqual([]); // pending
    expect(engine.evaluate(30_000, s(500))).toEqual([]);
    const fired = engine.evaluate(60_000, s(500));
    expect(fired.map((e) => [e.state, e.key])).toEqual([['firing', 'consumer_lag{table="public.t"}']]);
    expect(engine.evaluate(70_000, s(900))).toEqual([]);
    const resolved = engine.evaluate(80_000, s(3));
    expect(resolved.map((e) => e.state)).toEqual(['resolved']);
    expect(engine.evaluate(90_000, s(3))).toEqual([]);
    // A dip below the threshold restarts the `for` clock.
    engine.evaluate(100_000, s(500));
    expect(engine.evaluate(150_000, s(5))).toEqual([]);
    expect(engine.evaluate(155_000, s(500))).toEqual([]);
  });

  it('one alert per series: another table is another alert', () => {
    const engine = new AlertEngine([rule('validation_mismatch')]);
    const events = engine.evaluate(0, [
      { metric: 'astros_validation_last_differences', labels: { table: 'a.x' }, value: 1 },
      { metric: 'astros_validation_last_differences', labels: { table: 'a.y' }, value: 0 },
    ]);
    expect(events.map((e) => e.key)).toEqual(['validation_mismatch{table="a.x"}']);
  });

  it('increase rules: counts existing dead letters as the baseline, fires on new ones, recovers when the window holds none', () => {
    const engine = new AlertEngine([rule('dead_letters', { forMs: 60_000, forText: '1m' })]);
    const s = (v: number) => [{ metric: 'astros_dead_letters_total', labels: { table: 'public.t', stage: 'clickhouse' }, value: v }];
    expect(engine.evaluate(0, s(7))).toEqual([]);
    expect(engine.evaluate(10_000, s(7))).toEqual([]);
    expect(engine.evaluate(20_000, s(9)).map((e) => [e.state, e.value])).toEqual([['firing', 2]]);
    expect(engine.evaluate(50_000, s(9))).toEqual([]);
    expect(engine.evaluate(85_000, s(9)).map((e) => e.state)).toEqual(['resolved']);
  });

  it('matches labels (FAILED tasks only) and ends an alert whose series vanished', () => {
    const engine = new AlertEngine([rule('connector_failed')]);
    const tasks = (failed: number) => [
      { metric: 'astros_connector_tasks', labels: { connector: 'c', state: 'RUNNING' }, value: 3 },
      { metric: 'astros_connector_tasks', labels: { connector: 'c', state: 'FAILED' }, value: failed },
    ];
    expect(engine.evaluate(0, tasks(1)).map((e) => e.key)).toEqual(['connector_failed{connector="c",state="FAILED"}']);
    expect(engine.evaluate(1_000, []).map((e) => e.state)).toEqual(['resolved']);
  });

  it('a table that stops fires at once with its state and reason; resumed, it recovers; a catalog Postgres did not answer for keeps it', async () => {
    const engine = new AlertEngine([rule('table_stopped')]);
    const m = new MonitorMetrics();
    const states = (state: 'blocked' | 'active', postgres = true): Snapshot => ({
      ...snapshot,
      components: { ...snapshot.components, postgres },
      tableStates: postgres ? [{ source: 'public.t', state, reason: state === 'blocked' ? 'public.t: schema change refused: why; fix: this' : null, since: '' }] : [],
    });
    m.apply(states('blocked'), 0.1);
    const fired = engine.evaluate(0, await m.series());
    expect(fired.map((e) => e.state)).toEqual(['firing']);
    expect(alertText(fired[0]!)).toMatch(/^\[FIRING\] table_stopped \(table=public\.t, state=blocked, reason=public\.t: schema change refused: why; fix: this\): a captured table stopped/);
    m.apply(states('active', false), 0.1);
    expect(engine.evaluate(1_000, await m.series())).toEqual([]);
    m.apply(states('active'), 0.1);
    expect(engine.evaluate(2_000, await m.series()).map((e) => e.state)).toEqual(['resolved']);
  });

  it('restored alerts (after a restart) are not sent again', () => {
    const engine = new AlertEngine([rule('validation_mismatch')]);
    engine.restore([{ key: 'validation_mismatch{table="a.x"}', labels: { table: 'a.x' }, since: 0 }]);
    const s = (v: number) => [{ metric: 'astros_validation_last_differences', labels: { table: 'a.x' }, value: v }];
    expect(engine.evaluate(1_000, s(2))).toEqual([]);
    expect(engine.evaluate(2_000, s(0)).map((e) => e.state)).toEqual(['resolved']);
  });

  it('posts Slack-compatible JSON: text plus a mrkdwn section', () => {
    const [e] = new AlertEngine([rule('validation_mismatch')]).evaluate(0, [{ metric: 'astros_validation_last_differences', labels: { table: 'a.x' }, value: 3 }]);
    const body = slackPayload(e!, 'http://m/');
    expect(body.text).toBe(
      '[FIRING] validation_mismatch (table=a.x): the latest validatePipeline run found rows that differ between Postgres and ClickHouse. astros_validation_last_differences = 3 (threshold > 0 rows, ALERT_VALIDATION_MISMATCH_THRESHOLD).',
    );
    expect(body.blocks).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: expect.stringContaining('<http://m/|pipeline page>') } }]);
  });
});

describe('the same table as Prometheus rules', () => {
  it('thresholds come from the environment', () => {
    const cfg = parseConfig({ ALERT_CONSUMER_LAG_THRESHOLD: '5', ALERT_CONSUMER_LAG_FOR: '30s', ALERT_DEAD_LETTERS_FOR: '1h' }, { profile: 'dev' }).monitor;
    expect(promExpr(cfg.rules.find((r) => r.kind === 'consumer_lag')!)).toBe('astros_kafka_consumer_lag_messages > 5');
    expect(prometheusRules(cfg.rules)).toContain('for: 30s');
    expect(promExpr(cfg.rules.find((r) => r.kind === 'dead_letters')!)).toBe('increase(astros_dead_letters_total[1h]) > 0');
    expect(promExpr(cfg.rules.find((r) => r.kind === 'connector_failed')!)).toBe('astros_connector_tasks{state="FAILED"} > 0');
    expect(() => parseConfig({ ALERT_SLOT_LAG_FOR: 'soon' }, { profile: 'dev' })).toThrow(/ALERT_SLOT_LAG_FOR/);
  });

  it('docker/prometheus/rules.yml is the generated file with the defaults (npm run monitor -- rules > docker/prometheus/rules.yml)', () => {
    expect(fs.readFileSync(path.join(root, 'docker/prometheus/rules.yml'), 'utf8')).toBe(prometheusRules(defaults.monitor.rules));
  });

  it('every rule reads a metric the monitor exports', () => {
    const exported = new MonitorMetrics().names();
    expect(alertRules.map((r) => r.metric).filter((m) => !exported.includes(m))).toEqual([]);
  });
});

const snapshot: Snapshot = {
  at: Date.parse('2026-01-01T00:00:00Z'),
  tableStates: [
    { source: 'public.t', state: 'active', reason: null, since: '2026-01-01T00:00:00Z' },
    { source: 'public.gone', state: 'dropped', reason: 'public.gone was dropped in Postgres', since: '2026-01-01T00:00:00Z' },
  ],
  components: { postgres: true, kafka: true, connect: true, registry: true, clickhouse: false, temporal: true },
  lag: {
    at: '',
    postgres: { currentLsn: '0/1', slot: 's', slotFound: true, active: true, confirmedFlushLsn: '0/1', flushLagBytes: 10, retainedWalBytes: 512, walStatus: 'reserved', lastHeartbeat: null },
    kafka: [
      {
        topic: 'astros.public.t',
        group: 'g',
        partitions: 2,
        endOffset: 9,
        committedOffset: 4,
        lag: 5,
        byPartition: [
          { partition: 0, endOffset: 4, committedOffset: 4, lag: 0 },
          { partition: 1, endOffset: 5, committedOffset: 0, lag: 5 },
        ],
      },
    ],
    clickhouse: [{ table: 'astros.t', newestLsn: '0/1', newestCommit: '2026-01-01 00:00:00.000Z', rows: 3 }],
  },
  slots: [
    { slot: pipelineNames.slot, walStatus: 'reserved', active: true },
    { slot: 'other_connector', walStatus: 'lost', active: false },
  ],
  captureGaps: [],
  slotLimitBytes: 1024,
  tables: [{ source: 'public.t', topic: 'astros.public.t', current: 'astros.t', changes: 12, deadLetters: 2, debeziumLagSeconds: 0.2, newestLatencySeconds: 0.7, latency: [{ avg: 0.3, count: 2 }, { avg: 4, count: 1 }] }],
  connector: { name: 'c', state: 'RUNNING', tasks: [{ id: 0, state: 'RUNNING' }] },
  ingest: { runs: { applied: 4 }, rejects: 1, lastAppliedAt: null, consecutiveFailures: 0, recentWorkflows: [] },
  validations: [{ source: 'public.t', outcome: 'mismatch', finishedAt: '2026-01-01T00:00:00Z', differences: 3, summary: '' }],
  recentValidations: [],
  recentDeadLetters: [],
  recentRejects: [],
};

describe('metrics from a snapshot', () => {
  it('a new table\'s latency histogram starts at zero, so its first changes count as growth', async () => {
    const m = new MonitorMetrics();
    m.apply({ ...snapshot, tables: [{ ...snapshot.tables[0]!, latency: [] }] }, 0.1);
    expect(await m.registry.metrics()).toContain('astros_commit_to_visible_seconds_count{table="public.t"} 0');
  });

  it('sets each family, and counters follow the absolute counts', async () => {
    const m = new MonitorMetrics();
    m.apply(snapshot, 0.5);
    m.apply({ ...snapshot, tables: [{ ...snapshot.tables[0]!, changes: 15, latency: [] }] }, 0.5);
    const text = await m.registry.metrics();
    for (const line of [
      'astros_changes_applied_total{table="public.t"} 15',
      'astros_commit_to_visible_seconds_count{table="public.t"} 3',
      'astros_commit_to_visible_seconds_bucket{le="0.5",table="public.t"} 2',
      'astros_commit_to_visible_seconds_sum{table="public.t"} 4.6',
      'astros_dead_letters_total{table="public.t",stage="clickhouse"} 2',
      'astros_dead_letters_total{table="public.astronauts",stage="ingest"} 1',
      'astros_kafka_consumer_lag_messages{table="public.t",topic="astros.public.t",group="g"} 5',
      'astros_kafka_consumer_partition_lag_messages{table="public.t",topic="astros.public.t",group="g",partition="0"} 0',
      'astros_kafka_consumer_partition_lag_messages{table="public.t",topic="astros.public.t",group="g",partition="1"} 5',
      'astros_replication_slot_retained_wal_ratio{slot="s"} 0.5',
      'astros_validation_last_outcome{table="public.t",outcome="mismatch"} 1',
      'astros_validation_last_differences{table="public.t"} 3',
      'astros_component_up{component="clickhouse"} 0',
      'astros_ingest_runs_total{status="applied"} 4',
      'astros_connector_tasks{connector="c",state="FAILED"} 0',
      'astros_table_stopped{table="public.t",state="active",reason=""} 0',
      'astros_table_stopped{table="public.gone",state="dropped",reason="public.gone was dropped in Postgres"} 1',
      `astros_replication_slot_lost{slot="${pipelineNames.slot}"} 0`,
      'astros_replication_slot_lost{slot="other_connector"} 1',
    ]) expect(text).toContain(line);
  });

  it("the pipeline's slot missing from pg_replication_slots is lost too (a failover, a drop); with Postgres down nothing is said", async () => {
    const m = new MonitorMetrics();
    m.apply({ ...snapshot, slots: [] }, 0.5);
    expect(await m.registry.metrics()).toContain(`astros_replication_slot_lost{slot="${pipelineNames.slot}"} 1`);
    m.apply({ ...snapshot, slots: [], components: { ...snapshot.components, postgres: false } }, 0.5);
    expect(await m.registry.metrics()).not.toContain('astros_replication_slot_lost{');
  });
});

describe('the page when the replication slot cannot be read', () => {
  const history = { points: async () => [], recentAlerts: async () => [] } as unknown as MonitorHistory;
  const render = (s: Snapshot) => renderPage({ cfg: defaults, snapshot: s, history, firing: [] });
  const stage = (html: string, id: string) => new RegExp(`data-stage="${id}" data-health="(\\w+)">(.*?)</div></div>`).exec(html);

  it('a lost slot turns Postgres and Debezium red, though Connect says RUNNING, and says what to run', async () => {
    const html = await render({ ...snapshot, slots: [{ slot: pipelineNames.slot, walStatus: 'lost', active: false }] });
    expect(stage(html, 'postgres')?.[1]).toBe('down');
    expect(stage(html, 'postgres')?.[2]).toContain(`slot ${pipelineNames.slot} LOST`);
    expect(stage(html, 'debezium')?.[1]).toBe('down');
    expect(stage(html, 'debezium')?.[2]).toContain('cannot read');
    expect(html).toMatch(/data-alerts="slot"><strong>Not capturing:<\/strong> replication slot \S+ is lost: .*npm run recover/);
  });

  it('a missing slot too; a usable one leaves both as they were', async () => {
    const missing = await render({ ...snapshot, slots: [] });
    expect(stage(missing, 'postgres')?.[2]).toContain(`slot ${pipelineNames.slot} MISSING`);
    expect(stage(missing, 'debezium')?.[1]).toBe('down');
    const fine = await render(snapshot);
    expect(stage(fine, 'debezium')?.[1]).toBe('ok');
    expect(fine).not.toContain('data-alerts="slot"');
  });

  it("shows a table's consumer lag per partition when its topic has more than one", async () => {
    const html = await render(snapshot);
    expect(html).toContain('<span data-lag="public.t">5</span> messages<div class="why" data-partition-lag="public.t">p0 0, p1 5</div>');
  });

  it('lists the capture gaps with their LSN ranges and reloads', async () => {
    const gap = { sourceTable: 'public.t', slot: 's', reason: 'slot lost' as const, fromLsn: String(0x1a73f98), toLsn: String(0x15000000), fromTime: null, toTime: '2026-01-01T00:05:00.000Z', reloadLsn: null, recoveredBy: 'r' };
    const html = await render({ ...snapshot, captureGaps: [gap] });
    expect(html).toContain('<span data-gap-from="public.t">0/1A73F98</span>');
    expect(html).toContain('<span data-gap-to="public.t">0/15000000</span>');
    expect(html).toContain('not reloaded');
    expect(await render(snapshot)).toContain('no capture gap recorded');
  });
});

describe('counters when rows expire', () => {
  it('a count that drops (TTL) keeps the counter and counts growth from the new level: no reset, no dead letters read as new', async () => {
    const m = new MonitorMetrics();
    const at = (changes: number, deadLetters: number) => m.apply({ ...snapshot, tables: [{ ...snapshot.tables[0]!, changes, deadLetters, latency: [] }] }, 0.5);
    at(12, 5);
    at(4, 2); // expired rows
    at(6, 3); // two changes and one dead letter arrived since
    const text = await m.registry.metrics();
    expect(text).toContain('astros_changes_applied_total{table="public.t"} 14');
    expect(text).toContain('astros_dead_letters_total{table="public.t",stage="clickhouse"} 6');
  });
});

describe('the Grafana dashboard', () => {
  it('parses and uses only metric names the monitor exports', () => {
    const dash = JSON.parse(fs.readFileSync(path.join(root, 'docker/grafana/dashboards/astros-cdc.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\bastros_[a-z0-9_]+/g)].map((x) => x[0])));
    const exported = new MonitorMetrics().names();
    expect([...used].filter((n) => !exported.includes(n))).toEqual([]);
    // Every family but the histogram's raw series is on the dashboard.
    expect(exported.filter((n) => !used.has(n) && !/^astros_commit_to_visible_seconds(_sum|_count)?$/.test(n))).toEqual([]);
    // Anything that looks like a metric but is not the monitor's would be a typo.
    expect(exprs.every((e) => !/\b(up|process_)\w*\{/.test(e))).toBe(true);
  });
});

describe('charts', () => {
  it('rates, interval averages and an SVG with one line per series', () => {
    expect(rate([[0, 10], [1_000, 15], [3_000, 15], [4_000, 2]])).toEqual([[1_000, 5], [3_000, 0], [4_000, 2]]);
    expect(intervalAverage([[0, 1], [1_000, 3]], [[0, 2], [1_000, 6]])).toEqual([[1_000, 0.5]]);
    const svg = lineChart({ id: 'x', title: 'T <b>', format: String, from: 0, to: 3_600_000, series: [{ name: 'a', points: [[0, 1], [60_000, 2]] }] });
    expect(svg).toContain('data-chart="x"');
    expect(svg).toContain('T &#60;b&#62;');
    expect(svg.match(/<polyline/g)).toHaveLength(1);
  });
});
