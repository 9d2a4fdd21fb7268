/**
 * ClickHouse for the native stack: the chDB engine (npm `chdb`, ClickHouse
 * 26.7) behind a ClickHouse-compatible HTTP server (cli/clickhouse-server.ts).
 * One process owns `<stateDir>/clickhouse`; clients use it as they would a
 * ClickHouse server on the HTTP port.
 *
 * `clickhouse2` is a second host of the same kind, started only when named
 * (`npm run stack -- up clickhouse2`): its own data directory
 * (`<stateDir>/clickhouse2`) and port (CLICKHOUSE_REPLICA_HTTP_PORT). With
 * CLICKHOUSE_REPLICA_URLS naming it, setup gives it every table's objects
 * and it consumes every topic in its own consumer groups: a replica for reads.
 * The cluster profile runs it on its own host (config/cluster.ts ch2), always.
 */
import path from 'node:path';
import { backupsDirOf } from '../../config/profiles.ts';
import { InstallError, run } from '../lib/download.ts';
import type { Component, StackContext } from '../lib/types.ts';
import { versions } from '../versions.ts';

interface HostShape {
  name: string;
  host: (ctx: StackContext) => string;
  port: (ctx: StackContext) => number;
}

const first: HostShape = { name: 'clickhouse', host: (ctx) => ctx.hosts.clickhouse, port: (ctx) => ctx.ports.clickhouseHttp };
// On loopback both hosts share 127.0.0.1; in the cluster the second has its own (ServiceHosts.clickhouseReplica).
const second: HostShape = { name: 'clickhouse2', host: (ctx) => ctx.hosts.clickhouseReplica ?? ctx.hosts.clickhouse, port: (ctx) => ctx.ports.clickhouseReplicaHttp };
const hostUrl = (h: HostShape, ctx: StackContext): string => `http://${h.host(ctx)}:${h.port(ctx)}`;

/** The stack's backup directory: ClickHouse may write backups there (the default BACKUP_TARGET of this stack). */
export const backupsDir = (ctx: StackContext): string => backupsDirOf(ctx.stateDir);

function clickhouseHost(h: HostShape): Component {
  const url = (ctx: StackContext) => hostUrl(h, ctx);
  return {
  name: h.name,
  dependsOn: [],
  // The first open of a data directory loads every table; a few seconds here.
  startTimeoutSeconds: 60,
  // The server closes the engine on SIGTERM (flushes parts, commits Kafka offsets).
  stopSignal: 'SIGTERM',
  // Said where people look: the embedded server checks no user or password.
  url: (ctx) => `${url(ctx)} (no authentication: any user/password accepted; ${ctx.bind === '127.0.0.1' ? 'loopback' : "the cluster's bridge"} only)`,

  async install(ctx) {
    // Nothing to download: chdb and its native library come with `npm ci`.
    // Load them in a child so a broken install shows up here with a clear message.
    const probe =
      "const c=require('chdb/package.json').version; const n=require('@chdb/lib-linux-x64-gnu'); " +
      "require('chdb'); process.stdout.write(c+' '+n.EngineVersion())";
    let out: string;
    try {
      out = await run(process.execPath, ['-e', probe], { cwd: ctx.repoRoot });
    } catch (err) {
      throw new InstallError(
        'clickhouse',
        `the chDB engine does not load (npm packages chdb@${versions.chdb} and @chdb/lib-linux-x64-gnu; needs linux x64 glibc). ` +
          `Run \`npm ci\` in ${ctx.repoRoot}. Details: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const [chdbVersion, engineVersion] = out.trim().split(' ');
    if (chdbVersion !== versions.chdb || !engineVersion?.startsWith(`${versions.clickhouse}.`)) {
      throw new InstallError(
        'clickhouse',
        `expected chdb ${versions.chdb} with ClickHouse ${versions.clickhouse}, found chdb ${chdbVersion} with ClickHouse ${engineVersion}; run \`npm ci\``,
      );
    }
  },

  async process(ctx) {
    return {
      command: process.execPath,
      // `node --import tsx` (not `npx tsx`) so the pid the manager records is the server itself.
      args: [
        '--import',
        'tsx',
        path.join(ctx.repoRoot, 'cli', 'clickhouse-server.ts'),
        '--port',
        String(h.port(ctx)),
        '--data-dir',
        path.join(ctx.stateDir, h.name),
        '--host',
        ctx.bind,
        '--backups-dir',
        backupsDir(ctx),
        '--engine-log',
        path.join(ctx.logDir, `${h.name}-engine.log`),
        // A broker can be cut off only in the cluster: its consumers then need shorter timeouts to find another.
        ...(ctx.profile === 'cluster' ? ['--cluster-kafka'] : []),
      ],
      cwd: ctx.repoRoot,
      // One libuv worker per concurrently running query; must be set before the process starts.
      env: { UV_THREADPOOL_SIZE: '16', TZ: 'UTC' },
    };
  },

  async healthy(ctx) {
    try {
      const res = await fetch(`${url(ctx)}/ping`, { signal: AbortSignal.timeout(2000) });
      return res.status === 200 && (await res.text()) === 'Ok.\n';
    } catch {
      return false;
    }
  },
};
}

export const clickhouse: Component = clickhouseHost(first);

/** The second host: started only when named (its data is a full copy: every topic read again from the earliest offset Kafka holds). */
export const clickhouse2: Component = { ...clickhouseHost(second), optional: true, namedOnly: true };
