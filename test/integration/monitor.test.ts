/**
 * The monitor on the real test stack. The test captures a table of its own
 * (public.<tag>), runs its own monitor (instance <tag>, sampling every
 * second, alerts to a webhook receiver in this file), makes a known change,
 * forces a validation mismatch by inserting a row only into ClickHouse's
 * current-state table and validates with validatePipeline (a worker on this
 * file's task queue), then removes the row and validates again. It checks:
 *
 *   - /metrics: the expected series and values, and `promtool check metrics`;
 *   - the page, in Debian's chromium through puppeteer-core: the mismatch and
 *     the lag (screenshot: .stack/test-output/monitor-page.png);
 *   - the webhook: exactly one mismatch alert, then exactly one recovery;
 *   - the table dropped in Postgres while a writer inserts into it: every row
 *     committed before the drop reaches ClickHouse, the catalog marks it
 *     dropped with the reason (the event trigger), validating it says so at
 *     once, one table_stopped alert carries the reason, and the page shows the
 *     state and why (screenshot: .stack/test-output/monitor-page-stopped.png);
 *   - the stack's own monitor and Prometheus: scraped, rules loaded;
 *     `promtool check rules` on the generated rules.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { IngestErrorType } from '../../shared/errors.ts';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import puppeteer, { type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineNames, tableNames } from '../../shared/names.ts';
import { createPool } from '../../connectors/postgres/pool.ts';
import { createValidationActivities } from '../../activities/validation/activities.ts';
import { parseConfig } from '../../config/load.ts';
import { prometheusRules } from '../../config/alert-rules.ts';
import { startMonitor, type Monitor } from '../../monitor/service.ts';
import { promtool } from '../../stack/components/prometheus.ts';
import { VALIDATE_WORKFLOW_TYPE } from '../../shared/workflows.ts';
import { chromiumPath } from '../global-setup.ts';
import { captureTable, chRows, clickhouse, releaseTable, repoRoot, requireEnv, startTestWorker, uniqueTag, waitFor, type TestWorker, testKafka, testEndpoints } from './helpers.ts';

const tag = uniqueTag('monitor');
const source = `public.${tag}`;
const names = tableNames(source);
const taskQueue = `monitor-test-${tag}`;
const ROWS = 25;
const outDir = path.join(repoRoot, '.stack', 'test-output');

let pool: pg.Pool;
let ch: ClickHouseClient;
let monitor: Monitor;
let receiver: http.Server;
const received: { text: string }[] = [];
let worker: TestWorker;

async function metricsText(url = monitor.url): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/** The value of one series (`name{a="b",...}`, labels in any order) in Prometheus text format; undefined when absent. */
function value(text: string, series: string): number | undefined {
  const parse = (s: string) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?$/.exec(s.trim())!;
    const labels = [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => `${x[1]}=${x[2]}`).sort();
    return `${m[1]}|${labels.join(',')}`;
  };
  const want = parse(series);
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const i = line.lastIndexOf(' ');
    if (parse(line.slice(0, i)) === want) return Number(line.slice(i + 1));
  }
  return undefined;
}

async function validate(): Promise<'agree' | 'mismatch' | 'stopped'> {
  const handle = await worker.client.workflow.start(VALIDATE_WORKFLOW_TYPE, { taskQueue, workflowId: `${tag}-${Date.now()}`, args: [{ table: source }] });
  try {
    await handle.result();
    return 'agree';
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure && err.cause.type === IngestErrorType.ValidationMismatch) return 'mismatch';
    // Refused by the activity that would compare (compareTable), at once.
    if (err instanceof WorkflowFailedError && err.cause?.cause instanceof ApplicationFailure && err.cause.cause.type === IngestErrorType.TableStopped) return 'stopped';
    throw err;
  }
}

/** The page in Debian's chromium: `check` reads it, then a full-page screenshot goes to .stack/test-output/<file>. */
async function onPage(file: string, check: (page: Page) => Promise<void>): Promise<void> {
  fs.mkdirSync(outDir, { recursive: true });
  const browser = await puppeteer.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    await page.goto(`${monitor.url}/`, { waitUntil: 'load' });
    await check(page);
    await page.screenshot({ path: path.join(outDir, file), fullPage: true });
  } finally {
    await browser.close();
  }
}

const mismatchAlerts = (state: 'FIRING' | 'RESOLVED') => received.filter((r) => r.text.startsWith(`[${state}] validation_mismatch (table=${source})`));

beforeAll(async () => {
  pool = createPool(requireEnv('DATABASE_URL'), { schema: 'public', max: 2, application: 'astros-ingest' });
  ch = clickhouse();
  await pool.query(`create table ${source} (id integer primary key, note text not null)`);
  await captureTable({ source, description: 'monitor test table' });

  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as { text: string });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const webhook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  monitor = await startMonitor(parseConfig({ ...process.env, MONITOR_PORT: '0', MONITOR_INTERVAL: '1s', MONITOR_INSTANCE: tag, ALERT_WEBHOOK_URL: webhook }), () => undefined);

  worker = await startTestWorker(taskQueue, createValidationActivities({ pool, clickhouse: ch, kafka: testKafka(), endpoints: testEndpoints() }));
});

afterAll(async () => {
  await worker?.stop();
  await monitor?.stop();
  receiver?.close();
  if (pool) {
    await releaseTable(pool, source).catch(() => undefined);
    await pool.query(`drop table if exists ${source}`).catch(() => undefined);
    await pool.end();
  }
  // The test monitor's history (its own instance name).
  for (const t of ['monitor_samples', 'monitor_alerts']) {
    await ch?.command({ query: `DELETE FROM ${pipelineNames.clickhouseDatabase}.${t} WHERE instance = {i:String}`, query_params: { i: tag } }).catch(() => undefined);
  }
  await ch?.close();
});

describe('the monitor on the test stack', () => {
  it('after a known change: the table\'s series and values on /metrics, and promtool check metrics passes', async () => {
    await pool.query(`insert into ${source} select g, 'row ' || g from generate_series(1, ${ROWS}) g`);
    const label = `{table="${source}"}`;
    const text = await waitFor(metricsText, (t) => value(t, `astros_commit_to_visible_seconds_count${label}`) === ROWS, `${ROWS} changes of ${source} on /metrics`, 90_000, 500);
    expect(value(text, `astros_changes_applied_total${label}`)).toBe(ROWS);
    expect(value(text, `astros_commit_to_visible_seconds_bucket{le="+Inf",table="${source}"}`)).toBe(ROWS);
    expect(value(text, `astros_dead_letters_total{table="${source}",stage="clickhouse"}`)).toBe(0);
    expect(value(text, `astros_kafka_consumer_lag_messages{table="${source}",topic="${names.topic}",group="${names.group}"}`)).toBe(0);
    expect(value(text, `astros_newest_change_latency_seconds${label}`)).toBeGreaterThanOrEqual(0);
    expect(value(text, `astros_debezium_lag_seconds${label}`)).toBeGreaterThanOrEqual(0);
    expect(value(text, `astros_replication_slot_lag_bytes{slot="${pipelineNames.slot}"}`)).toBeGreaterThanOrEqual(0);
    for (const c of ['postgres', 'kafka', 'connect', 'registry', 'clickhouse', 'temporal']) expect(value(text, `astros_component_up{component="${c}"}`), c).toBe(1);
    expect(value(text, `astros_connector_tasks{connector="${pipelineNames.connector}",state="FAILED"}`)).toBe(0);

    const check = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${check.stdout}${check.stderr}`.trim()).toBe('');
    expect(check.status).toBe(0);
  });

  it('a forced mismatch: one alert on the webhook, the mismatch and the lag on the page; after repair, one recovery', async () => {
    await ch.command({ query: `INSERT INTO ${names.current} (id, note, commit_ts, version, is_deleted) VALUES (-1, 'ghost', now64(3), 1, 0)` });
    expect(await validate()).toBe('mismatch');
    const label = `{table="${source}"}`;
    const text = await waitFor(metricsText, (t) => value(t, `astros_validation_last_outcome{table="${source}",outcome="mismatch"}`) === 1, 'the mismatch on /metrics', 30_000, 500);
    expect(value(text, `astros_validation_last_differences${label}`)).toBe(1);
    expect(value(text, `astros_validation_last_outcome{table="${source}",outcome="agree"}`)).toBe(0);
    await waitFor(async () => mismatchAlerts('FIRING').length, (n) => n === 1, 'the mismatch alert on the webhook', 30_000, 300);

    await onPage('monitor-page.png', async (page) => {
      const stage = await page.$eval('[data-stage="validation"]', (el) => ({ health: el.getAttribute('data-health'), text: el.textContent ?? '' }));
      expect(stage.health).toBe('warn');
      expect(stage.text).toContain(`MISMATCH: ${source}`);
      expect(await page.$eval(`[data-lag="${source}"]`, (el) => el.textContent)).toBe('0');
      expect(await page.$eval('[data-alerts="firing"]', (el) => el.textContent)).toContain(`validation_mismatch (table=${source})`);
      expect(await page.$eval('[data-table="validations"]', (el) => el.textContent)).toContain(source);
      expect(await page.$$eval('svg[data-chart]', (els) => els.map((e) => e.getAttribute('data-chart')))).toEqual(['throughput', 'consumer-lag', 'latency', 'slot-lag']);
      expect(await page.$$eval('a', (as) => as.map((a) => a.textContent))).toEqual(expect.arrayContaining(['Temporal Web UI', 'Schema registry subjects', 'Connector status']));
      expect(await page.$eval(`[data-state="${source}"]`, (el) => el.textContent)).toBe('active');
    });

    await ch.command({ query: `ALTER TABLE ${names.current} DELETE WHERE id = -1 SETTINGS mutations_sync = 1` });
    expect(await validate()).toBe('agree');
    await waitFor(async () => mismatchAlerts('RESOLVED').length, (n) => n === 1, 'the recovery on the webhook', 30_000, 300);
    // A few more samples: nothing is sent again while the table agrees.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(mismatchAlerts('FIRING')).toHaveLength(1);
    expect(mismatchAlerts('RESOLVED')).toHaveLength(1);
    expect(value(await metricsText(), `astros_validation_last_differences${label}`)).toBe(0);
  });

  it('the table dropped while a writer inserts: what was committed arrives, then the catalog, validation, one alert and the page say it is dropped and why', async () => {
    // The writer inserts until the table is gone (as an application would, it then fails loudly in Postgres).
    let committed = 0;
    let writerError = '';
    const writing = (async () => {
      for (let id = 1_000; ; id++) {
        try {
          await pool.query(`insert into ${source} values ($1, 'written')`, [id]);
          committed++;
        } catch (err) {
          writerError = (err as Error).message;
          return;
        }
      }
    })();
    await waitFor(async () => committed, (n) => n >= 20, 'the writer to commit rows', 30_000, 50);
    await pool.query(`drop table ${source}`);
    await writing;
    expect(writerError).toMatch(/does not exist/);
    // Every row committed before the drop reaches ClickHouse: the queue keeps reading what the topic holds.
    await waitFor(
      () => chRows<{ n: string }>(ch, `SELECT toString(count()) AS n FROM ${names.current} FINAL WHERE id >= 1000 AND is_deleted = 0`).then((r) => Number(r[0]!.n)),
      (n) => n === committed,
      `the ${committed} rows committed before the drop in ClickHouse`,
      60_000,
      500,
    );
    const [state] = (await pool.query<{ state: string; last_error: string }>(`select state, last_error from public.captured_tables where source = $1`, [source])).rows;
    console.log(`dropped with a writer running: ${committed} rows committed before the drop, all in ClickHouse; the writer then got "${writerError}"; catalog: ${state!.state}: ${state!.last_error}`);
    expect(state!.state).toBe('dropped');
    expect(state!.last_error).toMatch(new RegExp(`^${source.replace('.', '\\.')} was dropped in Postgres \\(DROP TABLE at LSN [0-9A-F]+/[0-9A-F]+\\): .*npm run tables -- remove ${source.replace('.', '\\.')}`));
    const t0 = Date.now();
    expect(await validate()).toBe('stopped');
    expect(Date.now() - t0).toBeLessThan(20_000);
    const stopped = await waitFor(async () => received.filter((r) => r.text.startsWith(`[FIRING] table_stopped (table=${source}, state=dropped, reason=${source} was dropped`)), (r) => r.length === 1, 'the table_stopped alert on the webhook', 30_000, 300);
    expect(stopped[0]!.text).toContain('npm run tables -- remove');

    await onPage('monitor-page-stopped.png', async (page) => {
      expect(await page.$eval(`[data-state="${source}"]`, (el) => el.textContent)).toBe('dropped');
      expect(await page.$eval(`[data-reason="${source}"]`, (el) => el.textContent)).toBe(state!.last_error);
      expect(await page.$eval('[data-alerts="firing"]', (el) => el.textContent)).toContain(`table_stopped (table=${source}, state=dropped`);
      expect(await page.$eval('[data-stage="clickhouse"]', (el) => el.getAttribute('data-health'))).toBe('warn');
    });
    // A few more samples: the alert is not sent again.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(received.filter((r) => r.text.startsWith(`[FIRING] table_stopped (table=${source}`))).toHaveLength(1);
  });

  it("the stack's monitor answers on its port, Prometheus scrapes it with the generated rules, and promtool accepts them", async () => {
    const stackText = await metricsText(requireEnv('MONITOR_URL'));
    expect(stackText).toContain('astros_component_up{component="clickhouse"}');

    const prom = requireEnv('PROMETHEUS_URL');
    const targets = await waitFor(
      async () => ((await (await fetch(`${prom}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string; scrapeUrl: string }[] } }).data.activeTargets,
      (t) => t.some((x) => x.health === 'up' && x.scrapeUrl === `${requireEnv('MONITOR_URL')}/metrics`),
      'Prometheus scraping the monitor',
      60_000,
      1_000,
    );
    expect(targets).toHaveLength(1);
    const rules = (await (await fetch(`${prom}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name).sort()).toEqual(parseConfig(process.env).monitor.rules.map((r) => r.alert).sort());

    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'astros-rules-')), 'rules.yml');
    fs.writeFileSync(file, prometheusRules(parseConfig(process.env).monitor.rules));
    const check = spawnSync(promtool, ['check', 'rules', file], { encoding: 'utf8' });
    expect(check.stdout).toContain(`SUCCESS: ${parseConfig(process.env).monitor.rules.length} rules found`);
    expect(check.status).toBe(0);
  });
});
