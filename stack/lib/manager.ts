/**
 * The stack manager: brings components up in dependency order (independent
 * ones in parallel), leaves healthy ones alone, cleans stale pidfiles, stops
 * only the processes it started, and reports status. `up` also starts the
 * stack's supervisor (cli/stack-supervisor.ts), which restarts a component that
 * exits unexpectedly through this same class.
 *
 * Sharing pidfiles with the supervisor: whoever starts, stops, kills or
 * restarts a component holds its lock (stack/lib/lock.ts) and reads the
 * pidfile again under it; `down` and `kill` mark the pidfile before the
 * signal, so the supervisor never takes an intended end for a crash.
 */
import fs from 'node:fs';
import path from 'node:path';
import { installDbt, dbtVersion } from '../components/dbt.ts';
import { InstallError } from './download.ts';
import { lockName, tryLock, withLock } from './lock.ts';
import { assertPortFree, isOurs, launchFileOf, markEnded, readLaunch, readPidfile, rssMiB, spawnDetached, stopProcess, tailFile, waitGone, type PidRecord } from './process.ts';
import { clearRestarts, readRestarts } from './restarts.ts';
import { ensureSupervisor, stopSupervisor, SUPERVISOR, supervisorRunning } from './supervisor-process.ts';
import type { Seen } from './restart-policy.ts';
import type { Component, Ports, ProcessSpec, StackContext } from './types.ts';
import { portEnv, profileVar } from '../../config/profiles.ts';

export class StackError extends Error {}

export interface StatusRow {
  name: string;
  /** The cluster host it runs on and that host's address. */
  host?: string;
  address?: string;
  /** crashed: gone without being stopped (the supervisor restarts it); killed: by `stack kill` (`up` brings it back). */
  state: 'healthy' | 'unhealthy' | 'running' | 'stopped' | 'crashed' | 'killed' | 'installed' | 'not installed';
  pid?: number;
  rssMiB?: number;
  /** Restarts the supervisor made since the stack came up. */
  restarts?: number;
  url: string;
}

/** The ports each component binds (the variable that moves each: config/profiles.ts). */
const portsOf: Record<string, (keyof Ports)[]> = {
  postgres: ['postgres'], standby: ['postgresStandby'], kafka: ['kafka', 'kafkaController'], connect: ['connect'], registry: ['registry'],
  clickhouse: ['clickhouseHttp'], clickhouse2: ['clickhouseReplicaHttp'], temporal: ['temporal', 'temporalUi'], simulator: ['simulator'], monitor: ['monitor'], prometheus: ['prometheus'], seaweedfs: ['seaweedfs'],
};

export const pidFile = (ctx: StackContext, c: Pick<Component, 'name'>) => path.join(ctx.pidDir, `${c.name}.pid`);
export const logFile = (ctx: StackContext, c: Pick<Component, 'name'>) => path.join(ctx.logDir, `${c.name}.log`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Remove a pidfile only while it still names `pid`: another manager on the same stack may have replaced it. */
function removePidfileOf(pf: string, pid: number): void {
  if (readPidfile(pf)?.pid === pid) fs.rmSync(pf, { force: true });
}

function removePidfile(pf: string): void {
  fs.rmSync(pf, { force: true });
  fs.rmSync(launchFileOf(pf), { force: true });
}

/** What the pidfile says now: the supervisor's input. */
export function seen(pf: string): Seen {
  const rec = readPidfile(pf);
  if (!rec) return { kind: 'absent' };
  const { pid, ended } = rec;
  if (isOurs(rec)) return { kind: 'running', pid };
  return { kind: ended ? 'stopped' : 'crashed', pid };
}

/** The hosts a stack runs on, made before its components start and removed after the whole stack stops (the cluster profile's namespaces). */
export interface StackNetwork {
  ensure(): Promise<void>;
  remove(): Promise<void>;
}

export class StackManager {
  private readonly byName: Map<string, Component>;

  constructor(
    readonly ctx: StackContext,
    readonly components: Component[],
    readonly network?: StackNetwork,
  ) {
    this.byName = new Map(components.map((c) => [c.name, c]));
  }

  /** The named components plus everything they depend on, in start order (none named: all but the optional ones, unless `optional`). */
  resolve(names: string[], optional = false): Component[] {
    const wanted = names.length > 0 ? names : this.components.filter((c) => (optional && !c.namedOnly) || !c.optional).map((c) => c.name);
    const ordered: Component[] = [];
    const visit = (name: string, trail: string[]) => {
      const c = this.byName.get(name);
      if (!c) throw new StackError(`unknown component '${name}'. Known: ${[...this.byName.keys()].join(', ')}`);
      if (ordered.includes(c)) return;
      if (trail.includes(name)) throw new StackError(`dependency cycle: ${[...trail, name].join(' -> ')}`);
      for (const d of c.dependsOn) visit(d, [...trail, name]);
      ordered.push(c);
    };
    for (const n of wanted) visit(n, []);
    return ordered;
  }

  running(c: Component): PidRecord | undefined {
    const rec = readPidfile(pidFile(this.ctx, c));
    return isOurs(rec) ? rec : undefined;
  }

  /** Hold the component's lock for `fn`; waits out a start (by `up` or the supervisor) in progress. */
  private locked<T>(c: Component, fn: () => Promise<T>): Promise<T> {
    const waitMs = (c.startTimeoutSeconds + 60) * 1000;
    return withLock(lockName(this.ctx.pidDir, c.name), waitMs, `${c.name} is being started or stopped by another command or the stack's supervisor`, fn);
  }

  /** Install everything first (downloads in parallel), then start in dependency waves. */
  async up(names: string[] = [], opts: { withDbt?: boolean; optional?: boolean } = {}): Promise<void> {
    const list = this.resolve(names, opts.optional);
    // The hosts first: a missing `ip` or a non-root user is said before any download.
    await this.network?.ensure();
    fs.mkdirSync(this.ctx.logDir, { recursive: true });
    fs.mkdirSync(this.ctx.pidDir, { recursive: true });
    // Every failure names its component and keeps the component's own advice.
    const named = (name: string, p: Promise<void>) =>
      p.catch((err: unknown) => {
        throw err instanceof InstallError ? err : new InstallError(name, err instanceof Error ? err.message : String(err));
      });
    const installs: Promise<void>[] = list.map((c) => named(c.name, c.install(this.ctx)));
    if (opts.withDbt ?? names.length === 0) installs.push(named('dbt', installDbt(this.ctx)));
    const results = await Promise.allSettled(installs);
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (failures.length > 0) {
      throw new StackError(failures.map((e) => `install failed: ${e.message}\n  (finished installs are kept; fix the cause and run \`up\` again)`).join('\n'));
    }

    const started = new Set<string>();
    const pending = [...list];
    while (pending.length > 0) {
      const wave = pending.filter((c) => c.dependsOn.every((d) => started.has(d) || !list.some((x) => x.name === d)));
      if (wave.length === 0) throw new StackError('cannot order components (dependency cycle?)');
      const res = await Promise.allSettled(wave.map((c) => this.startOne(c)));
      const errs = res.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
      if (errs.length > 0) throw new StackError(errs.map((e) => e.message).join('\n\n'));
      for (const c of wave) {
        started.add(c.name);
        pending.splice(pending.indexOf(c), 1);
      }
    }
    await ensureSupervisor(this.ctx);
  }

  private startOne(c: Component): Promise<void> {
    return this.locked(c, () => this.startLocked(c));
  }

  private async startLocked(c: Component): Promise<void> {
    const ctx = this.ctx;
    const rec = this.running(c);
    if (rec && (await c.healthy(ctx))) {
      ctx.progress(`[up] ${c.name}: already running (pid ${rec.pid})`);
      await c.afterStart?.(ctx);
      return;
    }
    if (rec) {
      ctx.progress(`[up] ${c.name}: pid ${rec.pid} is running but unhealthy; restarting it`);
      await stopProcess(rec, c.stopSignal);
    }
    const pf = pidFile(ctx, c);
    const stale = readPidfile(pf);
    if (stale) {
      ctx.progress(`[up] ${c.name}: removing stale pidfile`);
      await waitGone(stale); // a process killed a moment ago may not be reaped yet
      fs.rmSync(pf);
    }
    await c.prepare?.(ctx);
    await this.spawnHealthy(c, await c.process(ctx), 'remove');
    await c.afterStart?.(ctx);
  }

  /**
   * Spawn and wait until healthy. A process that exits or stays unhealthy is
   * stopped; its pidfile is removed (`up`: the command failed and says so) or
   * kept (the supervisor: the component is still down and tried again later).
   */
  private async spawnHealthy(c: Component, spec: ProcessSpec, onFailure: 'remove' | 'keep'): Promise<PidRecord> {
    const ctx = this.ctx;
    const pf = pidFile(ctx, c);
    // A cluster host's process binds its own namespace's address: a loopback listener here (the dev profile on the same ports) is no clash.
    if (!c.host) for (const key of portsOf[c.name] ?? []) await assertPortFree(ctx.ports[key], c.name, profileVar(portEnv[key], ctx.profile));
    const t0 = Date.now();
    const started = spawnDetached(spec, logFile(ctx, c), pf);
    const fail = (why: string) => {
      if (onFailure === 'remove') removePidfileOf(pf, started.pid);
      return new StackError(`${c.name} ${why}. Last lines of ${logFile(ctx, c)}:\n${tailFile(logFile(ctx, c))}`);
    };
    ctx.progress(`[up] ${c.name}: started pid ${started.pid}, waiting for it to become healthy`);
    const deadline = t0 + c.startTimeoutSeconds * 1000;
    while (true) {
      if (!isOurs(started)) throw fail('exited during start');
      if (await c.healthy(ctx)) break;
      if (Date.now() > deadline) {
        await stopProcess(started, c.stopSignal, 10_000);
        throw fail(`did not become healthy within ${c.startTimeoutSeconds} s and was stopped`);
      }
      await sleep(500);
    }
    ctx.progress(`[up] ${c.name}: healthy in ${((Date.now() - t0) / 1000).toFixed(1)} s — ${c.url(ctx)}`);
    return started;
  }

  /** True while another command (or the supervisor) holds the component: what its pidfile says may be about to change. */
  async busy(c: Component): Promise<boolean> {
    const held = await tryLock(lockName(this.ctx.pidDir, c.name));
    await held?.release();
    return held === undefined;
  }

  /**
   * The supervisor's restart of a component whose process is gone without
   * being stopped: the same command and environment it was started with
   * (its launch record). 'handled' when another command holds the component
   * or it is no longer crashed (restarted, stopped or killed meanwhile);
   * throws when the restart fails, leaving the pidfile to say it is down.
   */
  async restartCrashed(c: Component): Promise<{ pid: number } | 'handled'> {
    const held = await tryLock(lockName(this.ctx.pidDir, c.name));
    if (!held) return 'handled';
    try {
      const pf = pidFile(this.ctx, c);
      if (seen(pf).kind !== 'crashed') return 'handled';
      await waitGone(readPidfile(pf)!);
      const started = await this.spawnHealthy(c, readLaunch(pf) ?? (await c.process(this.ctx)), 'keep');
      return { pid: started.pid };
    } finally {
      await held.release();
    }
  }

  /** Stop in reverse dependency order; only processes recorded in our pidfiles. */
  async down(names: string[] = []): Promise<void> {
    const list = names.length > 0 ? names.map((n) => this.resolve([n]).at(-1)!) : this.components;
    const order = this.resolve(list.map((c) => c.name)).filter((c) => list.includes(c)).reverse();
    // The whole stack: the supervisor first, so nothing is started again while it stops.
    if (names.length === 0) await stopSupervisor(this.ctx);
    // Dependents before what they depend on; components of one depth together (the cluster's three
    // brokers stop as one: stopped one by one, the last waits for a quorum that is gone).
    const depth = new Map<string, number>();
    for (const c of this.resolve(order.map((c) => c.name))) depth.set(c.name, 1 + Math.max(0, ...c.dependsOn.map((d) => depth.get(d) ?? 0)));
    const levels = [...new Set(order.map((c) => depth.get(c.name)!))].sort((a, b) => b - a);
    for (const level of levels) {
      await Promise.all(order.filter((c) => depth.get(c.name) === level).map((c) => this.stopOne(c)));
    }
    if (names.length === 0) {
      clearRestarts(this.ctx.stateDir);
      await this.network?.remove();
    }
  }

  private stopOne(c: Component): Promise<void> {
    return this.locked(c, async () => {
      const pf = pidFile(this.ctx, c);
      const rec = readPidfile(pf);
      if (!isOurs(rec)) return removePidfile(pf);
      markEnded(pf, rec, 'down');
      const how = await stopProcess(rec, c.stopSignal);
      removePidfile(pf);
      this.ctx.progress(`[down] ${c.name}: ${how} (pid ${rec.pid})`);
    });
  }

  /**
   * Send `signal` to a running component, by the pid its pidfile records (and
   * only while that pid is still the process we started); SIGKILL takes its
   * whole process group (Postgres backends, a JVM's children), as a crash
   * would. The pidfile is marked and left for `up`, which cleans it as
   * stale; the supervisor leaves a killed component alone (whoever kills it
   * brings it back). Returns the pid signalled, or undefined when the
   * component was not running.
   */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | undefined> {
    const c = this.resolve([name]).at(-1)!;
    return this.locked(c, async () => {
      const rec = this.running(c);
      if (!rec) return undefined;
      const { pid } = rec;
      markEnded(pidFile(this.ctx, c), rec, 'kill');
      process.kill(signal === 'SIGKILL' ? -pid : pid, signal);
      // Gone from the process table, not only dead: `up` may start it again at once.
      if (!(await waitGone(rec, 10_000))) throw new StackError(`${name} (pid ${pid}) still runs 10 s after ${signal}`);
      this.ctx.progress(`[kill] ${name}: ${signal} (pid ${pid})`);
      return pid;
    });
  }

  async status(): Promise<StatusRow[]> {
    const restarts = readRestarts(this.ctx.stateDir);
    const rows: StatusRow[] = await Promise.all(
      this.components.map(async (c): Promise<StatusRow> => {
        const counted = {
          ...(restarts[c.name]?.restarts ? { restarts: restarts[c.name]!.restarts } : {}),
          ...(c.host ? { host: c.host.name, address: c.host.address } : {}),
        };
        const now = seen(pidFile(this.ctx, c));
        if (now.kind !== 'running') {
          const state = now.kind === 'crashed' ? 'crashed' : now.kind === 'stopped' && readPidfile(pidFile(this.ctx, c))?.ended === 'kill' ? 'killed' : 'stopped';
          return { name: c.name, state, ...counted, url: c.optional ? `optional: \`up ${c.name}\` starts it (${c.url(this.ctx)})` : c.url(this.ctx) };
        }
        const ok = await c.healthy(this.ctx);
        return { name: c.name, state: ok ? 'healthy' : 'unhealthy', pid: now.pid, rssMiB: rssMiB(now.pid), ...counted, url: c.url(this.ctx) };
      }),
    );
    const sup = supervisorRunning(this.ctx);
    rows.push(
      sup
        ? { name: SUPERVISOR, state: 'running', pid: sup.pid, rssMiB: rssMiB(sup.pid), url: 'restarts a component that exits unexpectedly' }
        : { name: SUPERVISOR, state: 'stopped', url: 'nothing restarts crashed components; `up` starts it' },
    );
    const dbt = await dbtVersion(this.ctx);
    rows.push({ name: 'dbt', state: dbt ? 'installed' : 'not installed', url: dbt ?? 'run `up` to install' });
    return rows;
  }
}
