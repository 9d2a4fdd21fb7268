/**
 * The native stack's ClickHouse: one long-lived process owns a chDB data
 * directory and serves the ClickHouse HTTP interface on it.
 *
 *   npx tsx cli/clickhouse-server.ts --port 8123 --data-dir .stack/dev/clickhouse
 *
 * (the engine and the HTTP interface: stack/clickhouse/)
 */
import { spawn } from 'node:child_process';
import { config } from '../config/load.ts';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { Engine } from '../stack/clickhouse/engine.ts';
import type { LogLevel } from '../stack/clickhouse/http-handler.ts';

/** libuv workers: every running query holds one, so this bounds queries running at once. */
const threadPoolSize = '16';

function parsePort(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a port number between 1 and 65535');
  return n;
}

function parseLogLevel(raw: string): LogLevel {
  if (raw === 'error' || raw === 'info' || raw === 'debug') return raw;
  throw new InvalidArgumentError('expected one of: error, info, debug');
}

const program = new Command()
  .name('clickhouse-server (embedded chDB)')
  .description(
    'Serve the ClickHouse HTTP interface (queries, inserts, sessions, compression) on an embedded chDB engine that owns DIR.\n' +
      'Loopback use only: any user/password is accepted.',
  )
  .requiredOption('--port <n>', 'HTTP port to listen on', parsePort)
  .requiredOption('--data-dir <dir>', 'data directory owned by this process (created if missing)')
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .option('--backups-dir <dir>', "where BACKUP ... TO File('<dir>/...') may write (created if missing)")
  .option('--log-level <level>', 'error | info | debug (debug logs one line per request)', parseLogLevel, 'info' as LogLevel)
  .option('--engine-log <file>', "ClickHouse's own log (warnings and errors: the Kafka engine's consumers, merges), rotated at 50 MB")
  .option('--cluster-kafka', "the Kafka consumers get the cluster profile's client settings (shorter request and connection timeouts: catalog/consumer-settings.ts)")
  .showHelpAfterError();

program.parse();
const opts = program.opts<{ port: number; dataDir: string; host: string; logLevel: LogLevel; backupsDir?: string; engineLog?: string; clusterKafka?: boolean }>();

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString()} clickhouse: ${line}\n`);
};

/**
 * The libuv pool size is fixed when the pool first starts, which happens
 * before this module runs (the TypeScript loader reads files with it), so it
 * cannot be raised from here. Without it in the environment, run this same
 * command again as a child with it set, forwarding signals and the exit code.
 * The stack manager sets it, so its recorded pid is the server itself.
 */
function reexecWithThreadPool(): void {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, UV_THREADPOOL_SIZE: threadPoolSize, TZ: 'UTC' },
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

async function main(): Promise<void> {
  // The engine reads the time zone when it starts: the server's is UTC whatever the machine's.
  process.env.TZ = 'UTC';
  const { Engine: EngineClass } = await import('../stack/clickhouse/engine.ts');
  const { createHandler } = await import('../stack/clickhouse/http-handler.ts');
  const dataDir = path.resolve(opts.dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  let engine: Engine;
  try {
    const backupsDir = opts.backupsDir ? path.resolve(opts.backupsDir) : undefined;
    if (backupsDir) fs.mkdirSync(backupsDir, { recursive: true });
    const engineLog = opts.engineLog ? path.resolve(opts.engineLog) : undefined;
    engine = await EngineClass.open(dataDir, { ...(backupsDir ? { backupsDir } : {}), ...(engineLog ? { engineLog } : {}), clusterKafka: opts.clusterKafka === true });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log(`cannot open the chDB engine on ${dataDir}: ${message}`);
    log('if another process owns this data directory (chDB allows one process per directory; see the "Cannot lock file" line above), stop it first');
    process.exit(1);
  }
  const handler = createHandler({ engine, logLevel: opts.logLevel, log });
  const server = http.createServer((req, res) => handler.handle(req, res));
  // Longer than the clients' idle socket TTL (JS client: 2.5 s) so they never reuse a closing socket.
  server.keepAliveTimeout = 10_000;
  server.headersTimeout = 15_000;
  server.requestTimeout = 0;

  server.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE') {
      log(
        `port ${opts.port} on ${opts.host} is already in use. Stop whatever listens there ` +
          `(\`ss -ltnp 'sport = :${opts.port}'\` shows it; it may be a stack left running) or pass another --port.`,
      );
    } else if (err.code === 'EACCES') {
      log(`not allowed to listen on ${opts.host}:${opts.port}; use a port above 1024`);
    } else {
      log(`cannot listen on ${opts.host}:${opts.port}: ${err.message}`);
    }
    void engine.close().finally(() => process.exit(1));
  });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down (finishing ${handler.inFlight()} running request(s))`);
    server.close();
    server.closeIdleConnections();
    const deadline = Date.now() + 20_000;
    const waitRequests = async (): Promise<void> => {
      while (handler.inFlight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    };
    void waitRequests()
      .then(async () => {
        handler.sessions.closeAll();
        await engine.close();
        log('engine closed');
        process.exit(0);
      })
      .catch((err: unknown) => {
        log(`error while closing: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  server.listen(opts.port, opts.host, () => {
    log(`ClickHouse ${engine.version} (chDB) on ${dataDir}, time zone ${engine.timezone}`);
    log(`listening on http://${opts.host}:${opts.port} (no authentication: any user and password are accepted; keep it on loopback)`);
  });
}

if (config().stack.uvThreadpoolSize) {
  main().catch((err: unknown) => {
    log(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  });
} else {
  reexecWithThreadPool();
}
