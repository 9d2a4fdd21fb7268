/**
 * `npm run worker` (npx tsx cli/worker.ts): the ingest worker, in this
 * process (worker/run.ts builds it). Stops gracefully on SIGINT/SIGTERM.
 */
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { loadConfigOrExit } from '../config/load.ts';
import { runWorker } from '../worker/run.ts';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(`Usage: cli/worker.ts

Runs the ingest worker: applies pending Postgres migrations (unless
ASTROS_MIGRATE_ON_START=false), then serves every workflow and activity on
task queue TASK_QUEUE. It keeps running through restarts of Postgres,
Temporal, Kafka and ClickHouse. All settings come from the environment
(.env.example).`);
  process.exit(0);
}
const cfg = loadConfigOrExit();
Runtime.install({
  logger: new DefaultLogger(cfg.logLevel),
  telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) } },
});
runWorker(cfg).then(
  // Asked to stop and drained: exit, whatever native handles the SDK's runtime still holds.
  () => process.exit(0),
  (err: unknown) => {
    console.error(`worker failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
