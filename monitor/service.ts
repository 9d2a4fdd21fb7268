/**
 * The monitor: samples the pipeline every MONITOR_INTERVAL (monitor/collect.ts),
 * sets the Prometheus metrics, evaluates the alerts and posts them to the
 * webhook, keeps its samples in ClickHouse, and serves over HTTP:
 *
 *   /            the pipeline page (monitor/page.ts)
 *   /metrics     Prometheus text format
 *   /rules.yml   Prometheus alert rules generated from the threshold table
 *   /api/state   the latest sample as JSON
 *   /health      200 once a sample finished within three intervals
 */
import { ReplicaClients, replicaSamples } from './replicas.ts';
import { readOrder, replicaEndpoints } from '../config/clickhouse-replicas.ts';
import { Client, Connection } from '@temporalio/client';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { kafkaClient } from '../connectors/kafka/client.ts';
import { KafkaConnect } from '../connectors/kafka-connect/client.ts';
import { createPool } from '../connectors/postgres/pool.ts';
import { SchemaRegistry } from '../connectors/registry/client.ts';
import type { Config } from '../config/load.ts';
import { prometheusRules } from '../config/alert-rules.ts';
import { AlertEngine, alertText, slackPayload, type AlertEvent } from './alerts.ts';
import { collect, type Snapshot } from './collect.ts';
import { MonitorHistory } from './history.ts';
import { MonitorMetrics } from './metrics.ts';
import { renderPage } from './page.ts';

export interface Monitor {
  url: string;
  metrics: MonitorMetrics;
  latest(): Snapshot | undefined;
  stop(): Promise<void>;
}

async function postWebhook(url: string, body: unknown): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5_000) });
      if (res.ok) return true;
    } catch {
      // retried below
    }
    await new Promise((r) => setTimeout(r, 1_000 * (attempt + 1)));
  }
  return false;
}

export interface MonitorOptions {
  /** Restarts per component made by the native stack's supervisor (absent outside the native stack). */
  restarts?: () => Record<string, number>;
}

export async function startMonitor(cfg: Config, log: (m: string) => void = (m) => console.log(m), opts: MonitorOptions = {}): Promise<Monitor> {
  const pool = createPool(cfg.databaseUrl, { max: 4, application: 'astros-monitor', connectTimeoutMs: 3_000, log: () => undefined });
  // A replica set: each sample reads from the primary, or the next replica that answers, and the history goes there too (history.ts).
  const replicas = new ReplicaClients(cfg);
  let reader = readOrder(cfg.clickhouseReplicas, cfg.clickhousePrimary)[0]!;
  const kafka = kafkaClient(cfg.kafkaBrokers, 'astros-monitor');
  const connect = new KafkaConnect(cfg.connectUrl);
  const registry = SchemaRegistry.at(cfg.registryUrl);
  let temporal: { connection: Connection; client: Client } | undefined;
  const temporalClient = async () => {
    if (!temporal) {
      const connection = await Connection.connect({ address: cfg.temporal.address, connectTimeout: 3_000 });
      temporal = { connection, client: new Client({ connection, namespace: cfg.temporal.namespace }) };
    }
    return temporal.client;
  };

  const metrics = new MonitorMetrics();
  const history = new MonitorHistory(() => replicas.client(reader), cfg.monitor.instance);
  const engine = new AlertEngine(cfg.monitor.rules);
  const since = new Map<string, number>();
  let latest: Snapshot | undefined;
  let lastOkAt = 0;
  let pageUrl = '';

  try {
    engine.restore(await history.openAlerts());
  } catch (err) {
    log(`monitor: could not read open alerts from ClickHouse (${(err as Error).message.split('\n')[0]}); starting with none`);
  }

  const deliver = async (e: AlertEvent) => {
    const text = alertText(e);
    log(`monitor: alert ${text}`);
    const delivered = cfg.monitor.webhookUrl ? await postWebhook(cfg.monitor.webhookUrl, slackPayload(e, pageUrl)) : false;
    if (cfg.monitor.webhookUrl && !delivered) log(`monitor: the webhook did not accept the ${e.state} ${e.key}`);
    await history.writeAlert(e, text, delivered).catch((err: unknown) => log(`monitor: could not record alert: ${(err as Error).message}`));
  };

  const sample = async () => {
    const t0 = performance.now();
    const probe = await replicas.probe();
    reader = probe.reader;
    const s = await collect({ cfg: replicaEndpoints(cfg, probe.reader), pool, clickhouse: replicas.client(probe.reader), kafka, connect, registry, temporal: temporalClient }, since);
    const perReplica = await replicaSamples(cfg, probe, pool, kafka);
    if (perReplica) s.replicas = perReplica;
    if (!s.components.temporal && temporal) {
      await temporal.connection.close().catch(() => undefined);
      temporal = undefined;
    }
    metrics.apply(s, (performance.now() - t0) / 1000);
    if (opts.restarts) metrics.applyRestarts(opts.restarts());
    const series = await metrics.series();
    for (const e of engine.evaluate(s.at, series)) await deliver(e);
    await history.writeSamples(s.at, series).catch((err: unknown) => log(`monitor: could not write samples: ${(err as Error).message.split('\n')[0]}`));
    latest = s;
    lastOkAt = Date.now();
  };

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const loop = () => {
    running = sample()
      .catch((err: unknown) => log(`monitor: sample failed: ${(err as Error).message}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, cfg.monitor.intervalMs);
      });
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://monitor');
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const handle = async () => {
      if (url.pathname === '/metrics') return send(200, metrics.registry.contentType, await metrics.registry.metrics());
      if (url.pathname === '/rules.yml') return send(200, 'text/yaml; charset=utf-8', prometheusRules(cfg.monitor.rules));
      if (url.pathname === '/api/state') return send(200, 'application/json', JSON.stringify({ snapshot: latest, alerts: engine.firing() }));
      if (url.pathname === '/health') {
        const ok = Date.now() - lastOkAt < 3 * cfg.monitor.intervalMs + 30_000 && latest !== undefined;
        return send(ok ? 200 : 503, 'text/plain', ok ? 'ok\n' : 'no sample yet\n');
      }
      if (url.pathname === '/') {
        if (!latest) return send(503, 'text/plain', 'the monitor has not sampled the pipeline yet; reload in a few seconds\n');
        const html = await renderPage({ cfg, snapshot: latest, history, firing: engine.firing() });
        return send(200, 'text/html; charset=utf-8', html);
      }
      return send(404, 'text/plain', 'not found: /, /metrics, /rules.yml, /api/state, /health\n');
    };
    handle().catch((err: unknown) => send(500, 'text/plain', `${(err as Error).message}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.monitor.port, cfg.monitor.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${cfg.monitor.host}:${port}`;
  pageUrl = `${url}/`;
  loop();
  log(`monitor: listening on ${url} (page /, metrics /metrics), sampling every ${cfg.monitor.intervalMs / 1000} s, instance ${cfg.monitor.instance}`);

  return {
    url,
    metrics,
    latest: () => latest,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await new Promise<void>((r) => server.close(() => r()));
      await temporal?.connection.close().catch(() => undefined);
      await replicas.close();
      await pool.end();
    },
  };
}
