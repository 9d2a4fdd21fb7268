#!/usr/bin/env -S npx tsx
/**
 * `npm run stack -- <command>`: manage the native stack (no Docker needed).
 */
import './closed-pipe.ts';
import { Command, Option } from 'commander';
import { allComponents, componentsFor } from '../stack/components/index.ts';
import { createContext } from '../stack/lib/context.ts';
import { stackEnv } from '../stack/lib/endpoints.ts';
import { moveStandbyToPrimary, promoteStandby } from '../stack/lib/failover.ts';
import { logFile, StackError, StackManager } from '../stack/lib/manager.ts';
import { SUPERVISOR } from '../stack/lib/supervisor-process.ts';
import { tailFile } from '../stack/lib/process.ts';
import type { Profile } from '../stack/lib/types.ts';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { config } from '../config/load.ts';
import { networkFor } from '../stack/cluster/network.ts';
import { clusterHealthLines } from '../stack/cluster/health.ts';
import { describeTopic } from '../connectors/kafka/topics.ts';
import { kafkaClient } from '../connectors/kafka/client.ts';

const profileOption = new Option(
  '-p, --profile <profile>',
  "port set and state folder: dev (usual ports), test (the test suite's own) or cluster (one host per network namespace: config/cluster.ts)",
)
  .choices(['dev', 'test', 'cluster'])
  .default('dev');

function manager(profile: Profile): StackManager {
  const ctx = createContext(profile, (m) => console.log(m));
  return new StackManager(ctx, componentsFor(profile), networkFor(ctx, config(profile).stack.cluster));
}

async function main(): Promise<void> {
  const program = new Command('stack')
    .description('Native stack manager: Postgres, Kafka, Kafka Connect + Debezium, schema registry, ClickHouse (chDB), Temporal + Web UI, API simulator, dbt')
    .showHelpAfterError();

  program
    .command('up')
    .description('install (cached) and start components and their dependencies; healthy ones are left alone; then the supervisor, which restarts a component that exits unexpectedly')
    .argument('[components...]', `subset to start (default: all but the optional ${allComponents.filter((c) => c.optional).map((c) => c.name).join(', ')}): ${allComponents.map((c) => c.name).join(', ')}`)
    .addOption(profileOption)
    .action(async (names: string[], opts: { profile: Profile }) => {
      const t0 = Date.now();
      const m = manager(opts.profile);
      await m.up(names);
      console.log(`stack '${opts.profile}' is up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await printStatus(m);
    });

  program
    .command('down')
    .description('stop the components this stack started (by their pidfiles); with no names, the supervisor too')
    .argument('[components...]', 'subset to stop (default: all)')
    .addOption(profileOption)
    .action(async (names: string[], opts: { profile: Profile }) => {
      await manager(opts.profile).down(names);
      console.log(names.length > 0 ? `stopped in stack '${opts.profile}': ${names.join(', ')}` : `stack '${opts.profile}' is down`);
    });

  program
    .command('kill')
    .description('signal one component by the pid its pidfile records (default SIGKILL, its whole process group: a crash); the supervisor leaves it down, `up` brings it back')
    .argument('<component>')
    .option('--signal <name>', 'signal to send', 'SIGKILL')
    .addOption(profileOption)
    .action(async (name: string, opts: { profile: Profile; signal: string }) => {
      const pid = await manager(opts.profile).kill(name, opts.signal as NodeJS.Signals);
      console.log(pid === undefined ? `${name} is not running in stack '${opts.profile}'` : `${name}: ${opts.signal} sent to pid ${pid}`);
    });

  program
    .command('failover')
    .description(
      'fail the source over to the standby (start it first: `up standby`): the primary is killed if it still runs, the standby promoted, ' +
        "then moved to the primary's address (its data becomes the stack's Postgres, on the usual port). The pipeline's slot does not exist there: npm run recover",
    )
    .addOption(profileOption)
    .option('--promote-only', "promote the standby and leave it on its own port (move it later with `failover --move`)")
    .option('--move', 'only move an already promoted standby to the primary\'s address')
    .action(async (opts: { profile: Profile; promoteOnly?: boolean; move?: boolean }) => {
      const m = manager(opts.profile);
      if (!opts.move) {
        const p = await promoteStandby(m);
        console.log(`standby promoted: timeline ${p.timeline}, WAL at ${p.lsn}`);
      }
      if (!opts.promoteOnly) {
        await moveStandbyToPrimary(m);
        console.log(`the new primary serves port ${m.ctx.ports.postgres}; the pipeline's replication slot does not exist there: npm run lag says so, npm run recover makes a new one`);
      }
    });

  program
    .command('status')
    .description('each component, its pid, memory, address, health and restarts by the supervisor; on the cluster also brokers up or down, under-replicated and offline partitions, and which Connect worker runs the connector\'s task')
    .addOption(profileOption)
    .option('--json', 'machine-readable output')
    .action(async (opts: { profile: Profile; json?: boolean }) => {
      const m = manager(opts.profile);
      if (opts.json) console.log(JSON.stringify(await m.status(), null, 2));
      else await printStatus(m);
    });

  program
    .command('describe')
    .description("a topic's partitions (leader, replicas, in-sync replicas), replication factor and min.insync.replicas")
    .argument('<topic>')
    .addOption(profileOption)
    .action(async (topic: string, opts: { profile: Profile }) => {
      const env = stackEnv(createContext(opts.profile));
      const d = await describeTopic(kafkaClient(env.KAFKA_BROKERS.split(','), 'astros-stack'), topic);
      console.log(`${d.topic}  partitions ${d.partitions.length}  replication factor ${d.replicationFactor}  min.insync.replicas ${d.minInsyncReplicas}`);
      for (const p of d.partitions) console.log(`  partition ${p.partition}  leader ${p.leader}  replicas ${p.replicas.join(',')}  isr ${p.isr.join(',')}`);
    });

  program
    .command('logs')
    .description("print (or follow) a component's log")
    .argument('<component>', [...allComponents.map((c) => c.name), SUPERVISOR].join(' | '))
    .addOption(profileOption)
    .option('-n, --lines <n>', 'lines from the end', '50')
    .option('-f, --follow', 'keep printing new lines')
    .action((name: string, opts: { profile: Profile; lines: string; follow?: boolean }) => {
      const m = manager(opts.profile);
      const file = logFile(m.ctx, name === SUPERVISOR ? { name } : m.resolve([name]).at(-1)!);
      if (!fs.existsSync(file)) throw new StackError(`no log yet for ${name} (${file})`);
      if (opts.follow) spawn('tail', ['-n', opts.lines, '-F', file], { stdio: 'inherit' });
      else console.log(tailFile(file, Number(opts.lines)));
    });

  program
    .command('env')
    .description('print the stack\'s addresses as shell exports: eval "$(npm run -s stack -- env)"')
    .addOption(profileOption)
    .action((opts: { profile: Profile }) => {
      const env = stackEnv(createContext(opts.profile));
      for (const [k, v] of Object.entries(env)) console.log(`export ${k}='${v}'`);
    });

  await program.parseAsync(process.argv);
}

async function printStatus(m: StackManager): Promise<void> {
  const rows = await m.status();
  const w = Math.max(...rows.map((r) => r.name.length));
  // The cluster: each component's host and address; the total resident memory of what runs.
  const hosted = rows.some((r) => r.host);
  const hw = Math.max(0, ...rows.map((r) => (r.host ? `${r.host} ${r.address ?? ''}`.length : 0)));
  for (const r of rows) {
    const extra = r.pid ? ` pid ${r.pid}${r.rssMiB !== undefined ? `, ${r.rssMiB} MiB` : ''}` : '';
    const restarts = r.restarts ? `restarts ${r.restarts}` : '';
    const host = hosted ? `${(r.host ? `${r.host} ${r.address ?? ''}` : '').padEnd(hw)}  ` : '';
    console.log(`${r.name.padEnd(w)}  ${host}${r.state.padEnd(9)}${extra.padEnd(22)}  ${restarts.padEnd(11)}  ${r.url}`);
  }
  if (hosted) console.log(`total resident memory: ${rows.reduce((s, r) => s + (r.rssMiB ?? 0), 0)} MiB`);
  // The cluster as Kafka and Connect see it: brokers missing, partitions short of replicas, where the task runs.
  if (hosted && rows.some((r) => r.name.startsWith('kafka') && r.state !== 'stopped')) {
    const env = stackEnv(m.ctx);
    const connectUrls = rows.filter((r) => r.name.startsWith('connect') && r.address).map((r) => `http://${r.address}:${m.ctx.ports.connect}`);
    const hosts = rows.flatMap((r) => (r.host && r.address ? [{ host: r.host, address: r.address }] : []));
    for (const line of await clusterHealthLines(env.KAFKA_BROKERS.split(','), connectUrls, hosts)) console.log(line);
  }
}

main().catch((err: unknown) => {
  if (err instanceof Error) console.error(`error: ${err.message}`);
  else console.error('error:', err);
  process.exit(1);
});
