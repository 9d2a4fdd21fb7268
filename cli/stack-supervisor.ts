#!/usr/bin/env -S npx tsx
/**
 * The native stack's resident supervisor (stack/lib/supervisor.ts): started
 * by `npm run stack -- up` with its own pidfile and log
 * (`.stack/<profile>/logs/supervisor.log`), stopped by `down`, started again
 * by `up` when it is gone. Not meant to be run by hand.
 *
 *   node --import tsx cli/stack-supervisor.ts --profile dev|test --state-dir <dir>
 */
import path from 'node:path';
import { Command, Option } from 'commander';
import { componentsFor } from '../stack/components/index.ts';
import { createContext } from '../stack/lib/context.ts';
import { lockName, tryLock } from '../stack/lib/lock.ts';
import { StackManager } from '../stack/lib/manager.ts';
import { SUPERVISOR } from '../stack/lib/supervisor-process.ts';
import { Supervisor } from '../stack/lib/supervisor.ts';
import type { Profile } from '../stack/lib/types.ts';

const LOOK_EVERY_MS = 1_000;

const program = new Command('supervisor')
  .description("restart the stack's components that exit unexpectedly (started by `stack up`)")
  .addOption(new Option('-p, --profile <profile>', 'the stack profile').choices(['dev', 'test', 'cluster']).default('dev'))
  .option('--state-dir <dir>', "the stack's state folder (default: the profile's)")
  .action(async (opts: { profile: Profile; stateDir?: string }) => {
    const log = (m: string) => console.log(`${new Date().toISOString()} ${m}`);
    const base = createContext(opts.profile, log);
    const stateDir = opts.stateDir ? path.resolve(opts.stateDir) : base.stateDir;
    const ctx = { ...base, stateDir, logDir: path.join(stateDir, 'logs'), pidDir: path.join(stateDir, 'pids') };
    // One supervisor per stack, whoever started it.
    const alone = await tryLock(lockName(ctx.pidDir, SUPERVISOR));
    if (!alone) {
      log(`another supervisor watches ${stateDir}; exiting`);
      return;
    }
    const manager = new StackManager(ctx, componentsFor(opts.profile));
    const supervisor = new Supervisor(manager, { log });
    log(`supervisor pid ${process.pid} watching ${manager.components.map((c) => c.name).join(', ')} in ${stateDir}`);
    for (;;) {
      await supervisor.look();
      await new Promise((r) => setTimeout(r, LOOK_EVERY_MS));
    }
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`supervisor: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
