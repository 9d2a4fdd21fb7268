/**
 * What the two tests of a pipeline that loses its place share
 * (recover.test.ts: the slot invalidated; failover.test.ts: the source failed
 * over to a standby): a monitor of their own sampling every second with a
 * webhook receiver (alert-monitor.ts), the page in chromium, the recover command, and the first
 * sample that showed the failure.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { pipelineNames } from '../../shared/names.ts';
import { chromiumPath } from '../global-setup.ts';
import { chRows, repoRoot, runCommand } from './helpers.ts';

export const outDir = path.join(repoRoot, '.stack', 'test-output');

/**
 * The monitor's first sample taken after `since` (ms), whether it had the slot lost, and when the
 * slot_lost alert fired: "within one sample" is that the first sample after the loss already says so.
 */
/** The first monitor sample after `since`, and the first slot_lost alert after `alertsSince` (default `since`). */
export async function firstSampleAfter(ch: ClickHouseClient, instance: string, since: number, alertsSince = since): Promise<{ at: number; lost: number | null; firedAt: number | null }> {
  const [s] = await chRows<{ first_at: string; lost: number | null }>(
    ch,
    `SELECT toUnixTimestamp64Milli(min(at)) AS first_at, argMinIf(value, at, metric = 'astros_replication_slot_lost' AND labels['slot'] = {slot:String}) AS lost
       FROM ${pipelineNames.clickhouseDatabase}.monitor_samples
      WHERE instance = {i:String} AND at > fromUnixTimestamp64Milli({since:Int64}, 'UTC')`,
    { i: instance, since, slot: pipelineNames.slot },
  );
  const [a] = await chRows<{ fired_at: string | null }>(
    ch,
    `SELECT if(count() = 0, NULL, toUnixTimestamp64Milli(min(at))) AS fired_at FROM ${pipelineNames.clickhouseDatabase}.monitor_alerts
      WHERE instance = {i:String} AND kind = 'slot_lost' AND state = 'firing' AND at > fromUnixTimestamp64Milli({since:Int64}, 'UTC')`,
    { i: instance, since: alertsSince },
  );
  return { at: Number(s?.first_at ?? 0), lost: s?.lost ?? null, firedAt: a?.fired_at ? Number(a.fired_at) : null };
}

/** The page's stages and banners, and a screenshot of it (`.stack/test-output/<file>`). */
export async function pageState(url: string, file: string): Promise<{ stages: Record<string, { health: string; text: string }>; firing: string; notCapturing: string; gaps: string }> {
  fs.mkdirSync(outDir, { recursive: true });
  const browser = await puppeteer.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    await page.goto(`${url}/`, { waitUntil: 'load' });
    const stages = Object.fromEntries(
      await page.$$eval('[data-stage]', (els) => els.map((el) => [el.getAttribute('data-stage') ?? '', { health: el.getAttribute('data-health') ?? '', text: el.textContent ?? '' }] as const)),
    );
    const text = (sel: string) => page.$eval(sel, (el) => el.textContent ?? '').catch(() => '');
    const out = { stages, firing: await text('[data-alerts="firing"]'), notCapturing: await text('[data-alerts="slot"]'), gaps: await text('[data-table="capture-gaps"]') };
    await page.screenshot({ path: path.join(outDir, file), fullPage: true });
    return out;
  } finally {
    await browser.close();
  }
}

/** `astros recover` on the test's task queue. */
export function runRecover(taskQueue: string): Promise<{ code: number | null; text: string }> {
  return runCommand('npx', ['tsx', 'cli/astros.ts', 'recover', '--timeout', '5m'], { TASK_QUEUE: taskQueue, FORCE_COLOR: '0' });
}
