/**
 * Prometheus (Debian's `prometheus` package, which also brings `promtool`),
 * optional: `npm run stack -- up prometheus`. It scrapes the monitor and
 * loads the alert rules generated from the threshold table
 * (config/alert-rules.ts) with this environment's thresholds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { config } from '../../config/load.ts';
import { prometheusRules } from '../../config/alert-rules.ts';
import { aptInstall } from '../lib/apt.ts';
import type { Component, StackContext } from '../lib/types.ts';

export const promtool = '/usr/bin/promtool';
const binary = '/usr/bin/prometheus';
const dir = (ctx: StackContext) => path.join(ctx.stateDir, 'prometheus');
const url = (ctx: StackContext) => `http://127.0.0.1:${ctx.ports.prometheus}`;

/** Debian's package: the server and promtool. Installed by `up` (and by the test setup, which runs promtool). */
export const installPrometheus = (ctx: StackContext) =>
  aptInstall({ component: 'prometheus', packages: ['prometheus'], provides: promtool, recommends: false }, ctx.progress);

/** prometheus.yml for this stack: scrape the monitor, evaluate the generated rules. */
export function prometheusConfig(ctx: StackContext): string {
  const interval = ctx.profile === 'test' ? '5s' : '15s';
  return [
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'rule_files:',
    `  - ${path.join(dir(ctx), 'rules.yml')}`,
    'scrape_configs:',
    '  - job_name: astros-monitor',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${ctx.ports.monitor}']`,
    '',
  ].join('\n');
}

export const prometheus: Component = {
  name: 'prometheus',
  optional: true,
  dependsOn: ['monitor'],
  startTimeoutSeconds: 60,
  url,
  install: installPrometheus,
  async prepare(ctx) {
    fs.mkdirSync(path.join(dir(ctx), 'data'), { recursive: true });
    fs.writeFileSync(path.join(dir(ctx), 'prometheus.yml'), prometheusConfig(ctx));
    fs.writeFileSync(path.join(dir(ctx), 'rules.yml'), prometheusRules(config(ctx.profile).monitor.rules));
  },
  process: async (ctx) => ({
    command: binary,
    args: [
      `--config.file=${path.join(dir(ctx), 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir(ctx), 'data')}`,
      `--web.listen-address=127.0.0.1:${ctx.ports.prometheus}`,
      '--storage.tsdb.retention.time=7d',
    ],
  }),
  healthy: async (ctx) => {
    try {
      return (await fetch(`${url(ctx)}/-/ready`, { signal: AbortSignal.timeout(2_000) })).ok;
    } catch {
      return false;
    }
  },
};
