/**
 * The monitor's history in ClickHouse (clickhouse-ddl/110_monitor.sql):
 * samples of every series, and the alerts it sent. The page's charts read
 * the last hour from here, and a restarted monitor restores the alerts that
 * are still firing, so it does not send them again.
 *
 * With a ClickHouse replica set it goes to the host the samples read: the
 * primary, or while it is down the next replica that answers. The history is
 * then split between hosts for that while (each host holds what was written
 * while it was the one read; the page's charts show the current host's), and
 * a monitor restarted meanwhile restores the alerts that host recorded.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { pipelineNames } from '../shared/names.ts';
import type { AlertEvent, Series } from './alerts.ts';
import { chRows } from '../connectors/clickhouse/client.ts';

const db = pipelineNames.clickhouseDatabase;
const toDateTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

export interface HistoryPoint {
  t: number;
  metric: string;
  labels: Record<string, string>;
  value: number;
}

export class MonitorHistory {
  /** `host`: the ClickHouse host to read and write now (a replica set's: the one the monitor's samples read). */
  constructor(
    private readonly host: () => ClickHouseClient,
    private readonly instance: string,
  ) {}

  private get ch(): ClickHouseClient {
    return this.host();
  }

  async writeSamples(at: number, series: Series[]): Promise<void> {
    if (series.length === 0) return;
    await this.ch.insert({
      table: `${db}.monitor_samples`,
      values: series.map((s) => ({ at: toDateTime(at), instance: this.instance, metric: s.metric, labels: s.labels, value: s.value })),
      format: 'JSONEachRow',
    });
  }

  async writeAlert(e: AlertEvent, text: string, delivered: boolean): Promise<void> {
    await this.ch.insert({
      table: `${db}.monitor_alerts`,
      values: [
        {
          at: toDateTime(e.at),
          instance: this.instance,
          kind: e.kind,
          alert_key: e.key,
          labels: e.labels,
          state: e.state,
          since: toDateTime(e.since),
          value: Number.isFinite(e.value) ? e.value : 0,
          text,
          delivered: delivered ? 1 : 0,
        },
      ],
      format: 'JSONEachRow',
    });
  }

  /** Samples of `metrics` since `sinceMs`, oldest first. */
  async points(metrics: string[], sinceMs: number): Promise<HistoryPoint[]> {
    const rows = await chRows<{ t: string; metric: string; labels: Record<string, string>; value: number }>(
      this.ch,
      `SELECT toUnixTimestamp64Milli(at) AS t, metric, labels, value FROM ${db}.monitor_samples
        WHERE instance = {i:String} AND metric IN {m:Array(String)} AND at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')
        ORDER BY at`,
      { i: this.instance, m: metrics, since: sinceMs },
    );
    return rows.map((r) => ({ t: Number(r.t), metric: r.metric, labels: r.labels, value: Number(r.value) }));
  }

  /** Alerts whose latest event is `firing`. */
  async openAlerts(): Promise<{ key: string; labels: Record<string, string>; since: number }[]> {
    const rows = await chRows<{ key: string; labels: Record<string, string>; state: string; since: string }>(
      this.ch,
      `SELECT alert_key AS key, argMax(labels, at) AS labels, argMax(state, at) AS state, toUnixTimestamp64Milli(argMax(since, at)) AS since
         FROM ${db}.monitor_alerts WHERE instance = {i:String} GROUP BY alert_key HAVING state = 'firing'`,
      { i: this.instance },
    );
    return rows.map((r) => ({ key: r.key, labels: r.labels, since: Number(r.since) }));
  }

  async recentAlerts(limit = 10): Promise<{ at: string; state: string; text: string; delivered: number }[]> {
    return chRows(this.ch, `SELECT toString(at) AS at, state, text, delivered FROM ${db}.monitor_alerts WHERE instance = {i:String} ORDER BY at DESC LIMIT {n:UInt32}`, {
      i: this.instance,
      n: limit,
    });
  }
}
