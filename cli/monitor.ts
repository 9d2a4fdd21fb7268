/**
 * The monitor's command line.
 *
 *   npm run monitor [-- --profile dev|test]     sample, serve the page and /metrics, send alerts
 *   npm run monitor -- rules [--profile ...]    print the Prometheus alert rules (the threshold table)
 *
 * Addresses default to the native stack of --profile; every variable of
 * .env.example (DATABASE_URL, CLICKHOUSE_URL, MONITOR_PORT, ALERT_*, ...)
 * overrides them.
 */
import { Command, Option } from 'commander';
import { loadConfigOrExit } from '../config/load.ts';
import type { Profile } from '../config/profiles.ts';
import { readRestarts } from '../stack/lib/restarts.ts';
import { prometheusRules } from '../config/alert-rules.ts';
import { startMonitor } from '../monitor/service.ts';

const profileOption = () => new Option('-p, --profile <profile>', 'native stack whose addresses are the defaults').choices(['dev', 'test', 'cluster']).default('dev');


const program = new Command('monitor').description('Prometheus metrics, alerts and the pipeline page for the astros CDC pipeline');
program
  .command('run', { isDefault: true })
  .description('sample the pipeline every MONITOR_INTERVAL; serve / (page), /metrics, /rules.yml; post alerts to ALERT_WEBHOOK_URL')
  .addOption(profileOption())
  .action(async (opts: { profile: Profile }) => {
    // On the native stack, the supervisor's restart counts (stack/lib/restarts.ts) become astros_component_restarts_total.
    const stateDir = loadConfigOrExit(opts.profile).stack.stateDir;
    const restarts = () => Object.fromEntries(Object.entries(readRestarts(stateDir)).map(([name, e]) => [name, e.restarts]));
    const monitor = await startMonitor(loadConfigOrExit(opts.profile), undefined, { restarts });
    const stop = () => {
      monitor.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
program
  .command('rules')
  .description('print the Prometheus alert rules generated from the threshold table with this environment\'s thresholds')
  .addOption(profileOption())
  .action((opts: { profile: Profile }) => {
    process.stdout.write(prometheusRules(loadConfigOrExit(opts.profile).monitor.rules));
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`monitor: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
