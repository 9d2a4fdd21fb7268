/**
 * The pipeline monitor over the cluster, run in this process for one fault:
 * sampling every 2 s, alerting to a webhook receiver here (as the monitor's
 * own test does), so the test can read what an operator would see: the
 * metrics, the page, and each alert once when it fires and once when it ends.
 * Its samples are written under its own instance name and removed on stop.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClickHouseClient } from '@clickhouse/client';
import { parseConfig } from '../../config/load.ts';
import { startMonitor, type Monitor } from '../../monitor/service.ts';
import { pipelineNames } from '../../shared/names.ts';

export interface MonitorWatch {
  monitor: Monitor;
  /** The text of every alert and recovery the webhook received, in order. */
  received: string[];
  metrics(): Promise<string>;
  page(): Promise<string>;
  stop(): Promise<void>;
}

export async function watchMonitor(ch: ClickHouseClient, instance: string): Promise<MonitorWatch> {
  const received: string[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push((JSON.parse(body) as { text: string }).text);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const webhook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const monitor = await startMonitor(parseConfig({ ...process.env, MONITOR_PORT: '0', MONITOR_INTERVAL: '2s', MONITOR_INSTANCE: instance, ALERT_WEBHOOK_URL: webhook }), () => undefined);
  const get = (p: string) => fetch(`${monitor.url}${p}`).then((r) => r.text());
  return {
    monitor,
    received,
    metrics: () => get('/metrics'),
    page: () => get('/'),
    async stop() {
      await monitor.stop();
      receiver.close();
      for (const t of ['monitor_samples', 'monitor_alerts']) {
        await ch.command({ query: `DELETE FROM ${pipelineNames.clickhouseDatabase}.${t} WHERE instance = {i:String}`, query_params: { i: instance } }).catch(() => undefined);
      }
    },
  };
}

/** A series' value in Prometheus text (undefined when absent). */
export function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
