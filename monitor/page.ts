/**
 * The pipeline page the monitor serves at `/`: the pipeline drawn as its
 * stages with each one's live health and lag, per-table figures, charts of
 * the last hour (from astros.monitor_samples), the latest validations,
 * recent dead letters and rejects with their reasons, the alerts, and links
 * to the Temporal Web UI, the registry and the connector's status.
 * Server-rendered HTML with inline SVG; reloads itself every interval.
 */
import { pipelineNames } from '../shared/names.ts';
import type { Config } from '../config/load.ts';
import type { AlertKind } from '../config/alert-rules.ts';
import { escapeHtml as esc, intervalAverage, lineChart, rate, type ChartSeries } from './charts.ts';
import { stoppedStates, type Snapshot } from './collect.ts';
import type { HistoryPoint, MonitorHistory } from './history.ts';
import { formatLsn } from '../shared/lsn.ts';
import { slotProblem } from '../connectors/postgres/slots.ts';
import { partitionLags } from '../activities/lag-report.ts';

type Health = 'ok' | 'warn' | 'down';

interface Stage {
  id: string;
  name: string;
  health: Health;
  lines: string[];
}

export function bytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

const secs = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v < 10 ? `${v.toFixed(2)} s` : `${v.toFixed(0)} s`);
const when = (iso: string | null | undefined) => (iso ? esc(iso.replace('T', ' ').replace(/\.\d+Z?$/, '').replace(/Z$/, '')) + ' UTC' : 'never');

/** Every table group's slot (the default group's alone when the lag report failed). */
const groupSlots = (s: Snapshot): string[] => [...new Set([pipelineNames.slot, ...(s.lag?.groups ?? []).map((g) => g.slot)])];

/** The groups' slots that cannot be read (lost or missing): a short label and the one-line fix each; none when usable or Postgres is down. */
function slotFailures(s: Snapshot): { label: string; text: string }[] {
  if (!s.components.postgres) return [];
  return groupSlots(s).flatMap((slot) => {
    const mine = s.slots.find((x) => x.slot === slot);
    const text = slotProblem({ slot, found: mine !== undefined, walStatus: mine?.walStatus ?? null, active: mine?.active ?? null });
    return text ? [{ label: `slot ${esc(slot)} ${mine ? 'LOST' : 'MISSING'}`, text: esc(text) }] : [];
  });
}

/** One line per group's slot, or the one slot's three lines when there is one group. */
function slotLines(s: Snapshot): string[] {
  const groups = s.lag?.groups ?? (s.lag ? [s.lag.postgres] : []);
  const limit = s.slotLimitBytes ? ` of ${bytes(s.slotLimitBytes)}` : '';
  if (groups.length <= 1) {
    const p = groups[0];
    return p?.slotFound ? [`slot ${esc(p.slot)} ${p.active ? 'active' : 'INACTIVE'}`, `slot lag ${bytes(p.flushLagBytes ?? 0)}`, `WAL retained ${bytes(p.retainedWalBytes ?? 0)}${limit}`] : ['replication slot not found'];
  }
  return groups.map((p) => (p.slotFound ? `slot ${esc(p.slot)} ${p.active ? 'active' : 'INACTIVE'}, lag ${bytes(p.flushLagBytes ?? 0)}, WAL retained ${bytes(p.retainedWalBytes ?? 0)}${limit}` : `slot ${esc(p.slot)} not found`));
}

function stages(s: Snapshot, firing: Set<AlertKind>): Stage[] {
  const p = s.lag?.postgres;
  const failures = slotFailures(s);
  const lost = failures[0];
  const slotIdle = failures.length === 0 && groupSlots(s).some((slot) => s.slots.find((x) => x.slot === slot)?.active === false);
  const connectors = s.connectors ?? (s.connector ? [s.connector] : []);
  const kafkaLag = (s.lag?.kafka ?? []).reduce((a, k) => a + k.lag, 0);
  const mismatches = s.validations.filter((v) => v.outcome === 'mismatch');
  const worst = (down: boolean, warn: boolean): Health => (down ? 'down' : warn ? 'warn' : 'ok');
  const failedTasks = connectors.flatMap((c) => c.tasks).filter((t) => t.state === 'FAILED').length;
  const newestVisible = Math.max(0, ...s.tables.map((t) => t.newestLatencySeconds ?? 0));
  const stopped = s.tableStates.filter((t) => stoppedStates.includes(t.state)).length;
  const k = s.kafkaCluster;
  const brokersDown = k?.brokers.filter((b) => !b.up) ?? [];
  return [
    {
      id: 'ingest',
      name: 'Ingest (Temporal)',
      health: worst(!s.components.temporal, firing.has('ingest_failing')),
      lines: [`last applied run ${when(s.ingest.lastAppliedAt)}`, `failed in a row: ${s.ingest.consecutiveFailures ?? '–'}`, `rejected records: ${s.ingest.rejects}`],
    },
    {
      id: 'postgres',
      name: 'Postgres',
      health: worst(!s.components.postgres || p?.slotFound !== true || lost !== undefined, firing.has('slot_lag') || firing.has('wal_retained')),
      lines: lost
        ? [...failures.map((f) => `<span class="bad" data-slot-failure>${f.label}</span>`), 'no change of its group is captured', `run <code>npm run recover</code>`]
        : slotLines(s),
    },
    {
      id: 'debezium',
      name: 'Debezium (Connect)',
      // Connect says RUNNING while Debezium retries a slot it cannot read: the slot decides.
      health: worst(!s.components.connect || connectors.length === 0 || connectors.some((c) => c.state !== 'RUNNING') || failedTasks > 0 || lost !== undefined, !s.components.registry || slotIdle),
      lines: [
        ...(connectors.length > 0 ? connectors.map((c) => `${esc(c.name)}: ${esc(c.state)}`) : [`${esc(pipelineNames.connector)}: unreachable`]),
        ...failures.map((f) => `<span class="bad">cannot read: ${f.label}</span>`),
        ...(failures.length === 0 && slotIdle ? ['not connected to its slot'] : []),
        `tasks: ${esc(connectors.flatMap((c) => c.tasks).map((t) => (t.worker ? `${t.state} on ${t.worker}` : t.state)).join(', ') || '–')}`,
        `lag behind source ${secs(Math.max(0, ...s.tables.map((t) => t.debeziumLagSeconds ?? 0)))}`,
      ],
    },
    {
      id: 'kafka',
      name: 'Kafka',
      health: worst(!s.components.kafka || (k?.offline.length ?? 0) > 0, firing.has('consumer_lag') || brokersDown.length > 0 || (k?.underReplicated.length ?? 0) > 0),
      lines: [
        `consumer lag ${kafkaLag} messages`,
        `${s.lag?.kafka.length ?? 0} topics`,
        ...(k && k.brokers.length > 1 ? [`brokers up ${k.brokers.length - brokersDown.length}/${k.brokers.length}${brokersDown.length > 0 ? `: <span class="bad" data-broker-down>${esc(brokersDown.map((b) => b.address).join(', '))} DOWN</span>` : ''}`] : []),
        ...(k && (k.underReplicated.length > 0 || k.offline.length > 0) ? [`under-replicated partitions ${k.underReplicated.length}, offline ${k.offline.length}`] : []),
      ],
    },
    {
      id: 'clickhouse',
      name: 'ClickHouse',
      health: worst(!s.components.clickhouse, firing.has('dead_letters') || firing.has('table_stopped')),
      lines: [`newest commit→visible ${secs(newestVisible)}`, `dead letters ${s.tables.reduce((a, t) => a + t.deadLetters, 0)}`, `${s.tables.length} tables${stopped > 0 ? `, ${stopped} STOPPED` : ''}`],
    },
    {
      id: 'validation',
      name: 'Validation',
      health: worst(false, mismatches.length > 0),
      lines: mismatches.length > 0 ? [`MISMATCH: ${mismatches.map((m) => esc(m.source)).join(', ')}`] : [`${s.validations.filter((v) => v.outcome === 'agree').length} tables agree`],
    },
  ];
}

const seriesOf = (points: HistoryPoint[], metric: string, label: string): Map<string, [number, number][]> => {
  const m = new Map<string, [number, number][]>();
  for (const p of points.filter((x) => x.metric === metric)) {
    const k = p.labels[label] ?? '';
    m.set(k, [...(m.get(k) ?? []), [p.t, p.value]]);
  }
  return m;
};

async function charts(history: MonitorHistory, tables: string[], now: number): Promise<string> {
  const hourAgo = now - 3_600_000;
  const metrics = ['astros_changes_applied_total', 'astros_kafka_consumer_lag_messages', 'astros_commit_to_visible_seconds_sum', 'astros_commit_to_visible_seconds_count', 'astros_replication_slot_lag_bytes'];
  const points = await history.points(metrics, hourAgo - 60_000).catch(() => []);
  // The last hour, or less while the history is younger than that (a new monitor's first minutes are not squeezed into a corner).
  const from = Math.min(now - 60_000, Math.max(hourAgo, points[0]?.t ?? hourAgo));
  const per = (metric: string, f: (pts: [number, number][], table: string) => [number, number][]): ChartSeries[] => {
    const m = seriesOf(points, metric, 'table');
    return tables.map((t) => ({ name: t, points: f(m.get(t) ?? [], t) }));
  };
  const counts = seriesOf(points, 'astros_commit_to_visible_seconds_count', 'table');
  const slot = [...seriesOf(points, 'astros_replication_slot_lag_bytes', 'slot')].map(([name, pts]) => ({ name, points: pts }));
  return [
    lineChart({ id: 'throughput', title: 'Changes applied per second', format: (v) => v.toFixed(v < 10 ? 1 : 0), from, to: now, series: per('astros_changes_applied_total', (p) => rate(p)) }),
    lineChart({ id: 'consumer-lag', title: 'Kafka consumer lag (messages)', format: (v) => v.toFixed(0), from, to: now, series: per('astros_kafka_consumer_lag_messages', (p) => p) }),
    lineChart({ id: 'latency', title: 'Commit → visible, average per sample (s)', format: (v) => v.toFixed(2), from, to: now, series: per('astros_commit_to_visible_seconds_sum', (p, t) => intervalAverage(p, counts.get(t) ?? [])) }),
    lineChart({ id: 'slot-lag', title: 'Replication slot lag', format: bytes, from, to: now, series: slot }),
  ].join('\n');
}

function table(headers: string[], rows: string[][], empty: string, id: string): string {
  if (rows.length === 0) return `<p class="empty" data-table="${id}">${esc(empty)}</p>`;
  return `<table data-table="${id}"><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

const css = `body{font:14px system-ui,sans-serif;margin:20px;color:#0f172a;background:#fff}h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 8px}
a{color:#1d4ed8}.meta{color:#475569}.links a{margin-right:14px}.alerts{border:2px solid #dc2626;background:#fef2f2;padding:8px 12px;margin:12px 0}
.pipeline{display:flex;align-items:stretch;gap:0;max-width:1360px}.stage{flex:1 1 0;border:2px solid #94a3b8;border-radius:8px;padding:6px 8px;min-width:0;background:#f8fafc}
.stage h3{margin:0 0 4px;font-size:14px}.stage div{font-size:12px;color:#334155}.arrow{align-self:center;font-size:20px;color:#64748b;padding:0 3px}
.stage.ok{border-color:#16a34a}.stage.warn{border-color:#f59e0b;background:#fffbeb}.stage.down{border-color:#dc2626;background:#fef2f2}
.dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:6px}.ok .dot{background:#16a34a}.warn .dot{background:#f59e0b}.down .dot{background:#dc2626}
table{border-collapse:collapse;font-size:12px;margin-bottom:6px}td,th{border:1px solid #cbd5e1;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f1f5f9}
.bad{color:#b91c1c;font-weight:600}.charts{display:flex;flex-wrap:wrap;gap:8px}.chart{margin:0}figcaption{font-size:11px}.key i{display:inline-block;width:10px;height:3px;margin:0 4px 3px 8px}
.empty{color:#64748b;font-size:12px}code{font-size:11px}.why{max-width:560px;font-size:11px;color:#7f1d1d}`;

export interface PageInput {
  cfg: Config;
  snapshot: Snapshot;
  history: MonitorHistory;
  firing: { kind: AlertKind; labels: Record<string, string>; since: number; value: number }[];
}

export async function renderPage({ cfg, snapshot: s, history, firing }: PageInput): Promise<string> {
  const e = cfg;
  const kinds = new Set(firing.map((f) => f.kind));
  const stageHtml = stages(s, kinds)
    .map((st) => `<div class="stage ${st.health}" data-stage="${st.id}" data-health="${st.health}"><h3><span class="dot"></span>${esc(st.name)}</h3>${st.lines.map((l) => `<div>${l}</div>`).join('')}</div>`)
    .join('<div class="arrow">→</div>');
  const lastValidation = new Map(s.validations.map((v) => [v.source, v]));
  const samples = new Map(s.tables.map((t) => [t.source, t]));
  const states = new Map(s.tableStates.map((t) => [t.source, t]));
  // Every table of the catalog (a stopped one has no sample when its objects are gone), or the sampled ones if Postgres did not answer.
  const sources = [...new Set([...s.tableStates.map((t) => t.source), ...s.tables.map((t) => t.source)])];
  const perTable = table(
    ['table', 'state', 'changes applied', 'Kafka consumer lag', 'commit→visible (newest)', 'Debezium lag', 'dead letters', 'last validation'],
    sources.map((source) => {
      const t = samples.get(source);
      const st = states.get(source);
      const v = lastValidation.get(source);
      const k = t && s.lag?.kafka.find((x) => x.topic === t.topic);
      const stopped = st !== undefined && stoppedStates.includes(st.state);
      return [
        esc(source),
        st
          ? `<span data-state="${esc(source)}" class="${stopped ? 'bad' : ''}">${esc(st.state)}</span>${stopped ? ` since ${when(st.since)}<div class="why" data-reason="${esc(source)}">${esc(st.reason ?? 'no reason recorded')}</div>` : ''}`
          : '–',
        t ? String(t.changes) : '–',
        k ? `<span data-lag="${esc(source)}">${k.lag}</span> messages${k.byPartition.length > 1 ? `<div class="why" data-partition-lag="${esc(source)}">${esc(partitionLags(k.byPartition))}</div>` : ''}` : '–',
        secs(t?.newestLatencySeconds),
        secs(t?.debeziumLagSeconds),
        t ? String(t.deadLetters) : '–',
        v ? `<span class="${v.outcome === 'mismatch' ? 'bad' : ''}">${esc(v.outcome)}${v.differences > 0 ? ` (${v.differences} ${v.differences === 1 ? 'row' : 'rows'})` : ''}</span>, ${when(v.finishedAt)}` : '–',
      ];
    }),
    'no captured tables',
    'tables',
  );
  const validations = table(
    ['finished', 'table', 'outcome', 'summary'],
    s.recentValidations.map((v) => [when(v.finishedAt), esc(v.source), `<span class="${v.outcome === 'mismatch' ? 'bad' : ''}">${esc(v.outcome)}</span>`, esc(v.summary)]),
    'no validation has run yet',
    'validations',
  );
  const lostSlots = slotFailures(s);
  const gaps = table(
    ['table', 'not captured: committed after', 'and before', 'from', 'until', 'reason', 'reloaded at'],
    s.captureGaps.map((g) => [
      esc(g.sourceTable),
      `<span data-gap-from="${esc(g.sourceTable)}">${formatLsn(g.fromLsn)}</span>`,
      `<span data-gap-to="${esc(g.sourceTable)}">${formatLsn(g.toLsn)}</span>`,
      when(g.fromTime),
      when(g.toTime),
      esc(g.reason),
      g.reloadLsn === null ? '<span class="bad">not reloaded</span>' : formatLsn(g.reloadLsn),
    ]),
    'no capture gap recorded: every change since the pipeline started is in the change history',
    'capture-gaps',
  );
  const deadLetters = table(
    ['received', 'topic', 'error', 'message'],
    s.recentDeadLetters.map((d) => [when(d.receivedAt), esc(d.topic), esc(d.error), `<code>${esc(d.message)}</code>`]),
    'no dead letters in astros.kafka_errors',
    'dead-letters',
  );
  const rejects = table(
    ['rejected', 'run', 'reason', 'record'],
    s.recentRejects.map((r) => [when(r.rejectedAt), esc(r.runKey), esc(r.reason), `<code>${esc(r.record)}</code>`]),
    'no rejected feed records in ingest_rejects',
    'rejects',
  );
  const recentAlerts = await history.recentAlerts(8).catch(() => []);
  const alertLog = table(['at', 'state', 'message', 'webhook'], recentAlerts.map((a) => [when(a.at), esc(a.state), esc(a.text), a.delivered ? 'sent' : cfg.monitor.webhookUrl ? 'FAILED' : 'no webhook set']), 'no alerts yet', 'alert-log');
  const firingHtml =
    firing.length > 0
      ? `<div class="alerts" data-alerts="firing"><strong>Firing:</strong> ${firing.map((f) => `${esc(f.kind)} (${esc(Object.entries(f.labels).map(([k, v]) => `${k}=${v}`).join(', '))}) = ${f.value}`).join('; ')}</div>`
      : '';
  const links = [
    [`${cfg.temporal.uiUrl}/namespaces/${cfg.temporal.namespace}/workflows`, 'Temporal Web UI'],
    [`${e.registryUrl}/apis/ccompat/v7/subjects`, 'Schema registry subjects'],
    [`${e.connectUrl}/connectors/${pipelineNames.connector}/status`, 'Connector status'],
    ['/metrics', 'Prometheus metrics'],
    ['/rules.yml', 'Alert rules'],
  ];
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="${Math.max(5, Math.round(cfg.monitor.intervalMs / 1000))}">
<title>astros-cdc pipeline</title><style>${css}</style></head><body>
<h1>astros-cdc pipeline</h1><div class="meta">sampled ${when(new Date(s.at).toISOString())} · monitor ${esc(cfg.monitor.instance)} · every ${cfg.monitor.intervalMs / 1000} s</div>
<div class="links">${links.map(([href, text]) => `<a href="${esc(href!)}">${esc(text!)}</a>`).join('')}</div>
${firingHtml}${lostSlots.length > 0 ? `<div class="alerts" data-alerts="slot"><strong>Not capturing:</strong> ${lostSlots.map((f) => f.text).join('<br>')}</div>` : ''}
<h2>Pipeline</h2><div class="pipeline">${stageHtml}</div>
<h2>Tables</h2>${perTable}
<h2>Last hour</h2><div class="charts">${await charts(history, s.tables.map((t) => t.source), s.at)}</div>
<h2>Latest validations</h2>${validations}
<h2>Capture gaps</h2>${gaps}
<h2>Recent dead letters</h2>${deadLetters}
<h2>Recent rejected feed records</h2>${rejects}
<h2>Alerts</h2>${alertLog}
</body></html>`;
}
