/**
 * A pipeline monitor run in the test's own process with a webhook receiver
 * here (as an operator's Slack would be), so a test reads what an operator
 * sees: each alert once when it fires and once when it ends, the metrics and
 * the page. Its samples and alerts are written under its own instance name
 * and removed on stop. Used by the recover and failover tests (sampling every
 * second) and the cluster's fault test (every 2 s, on a busier cluster).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../config/load.ts';
import { startMonitor, type Monitor } from '../../monitor/service.ts';
import { pipelineNames } from '../../shared/names.ts';

export interface AlertMonitor {
  monitor: Monitor;
  /** Every alert text the webhook received, in order. */
  received: string[];
  metrics(): Promise<string>;
  page(): Promise<string>;
  stop(): Promise<void>;
}

/** A monitor named `instance`, sampling every `interval` (MONITOR_INTERVAL's form), posting its alerts to a receiver in this process. */
export async function startAlertMonitor(instance: string, ch: ClickHouseClient, interval = '1s'): Promise<AlertMonitor> {
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
  const monitor = await startMonitor(parseConfig({ ...process.env, MONITOR_PORT: '0', MONITOR_INTERVAL: interval, MONITOR_INSTANCE: instance, ALERT_WEBHOOK_URL: webhook }), () => undefined);
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
