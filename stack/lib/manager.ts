/**
 * The stack manager: brings components up in dependency order (independent
 * ones in parallel), leaves healthy ones alone, cleans stale pidfiles, stops
 * only the processes it started, and reports status.
 */
import fs from 'node:fs';
import path from 'node:path';
import { installDbt, dbtVersion } from '../components/dbt.ts';
import { InstallError } from './download.ts';
import { assertPortFree, isOurs, readPidfile, rssMiB, spawnDetached, stopProcess, tailFile, type PidRecord } from './process.ts';
import type { Component, Ports, StackContext } from './types.ts';

export class StackError extends Error {}

export interface StatusRow {
  name: string;
  state: 'healthy' | 'unhealthy' | 'stopped' | 'installed' | 'not installed';
  pid?: number;
  rssMiB?: number;
  url: string;
}

const portOf: Record<string, { key: keyof Ports; env: string }[]> = {
  postgres: [{ key: 'postgres', env: 'PG_PORT' }],
  kafka: [
    { key: 'kafka', env: 'KAFKA_PORT' },
    { key: 'kafkaController', env: 'KAFKA_CONTROLLER_PORT' },
  ],
  connect: [{ key: 'connect', env: 'CONNECT_PORT' }],
  registry: [{ key: 'registry', env: 'REGISTRY_PORT' }],
  clickhouse: [{ key: 'clickhouseHttp', env: 'CLICKHOUSE_HTTP_PORT' }],
  temporal: [
    { key: 'temporal', env: 'TEMPORAL_PORT' },
    { key: 'temporalUi', env: 'TEMPORAL_UI_PORT' },
  ],
  simulator: [{ key: 'simulator', env: 'SIMULATOR_PORT' }],
  monitor: [{ key: 'monitor', env: 'MONITOR_PORT' }],
  prometheus: [{ key: 'prometheus', env: 'PROMETHEUS_PORT' }],
  seaweedfs: [{ key: 'seaweedfs', env: 'SEAWEEDFS_PORT' }],
};

export const pidFile = (ctx: StackContext, c: Component) => path.join(ctx.pidDir, `${c.name}.pid`);
export const logFile = (ctx: StackContext, c: Component) => path.join(ctx.logDir, `${c.name}.log`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Remove a pidfile only while it still names `pid`: another manager on the same stack may have replaced it. */
function removePidfileOf(pf: string, pid: number): void {
  if (readPidfile(pf)?.pid === pid) fs.rmSync(pf, { force: true });
}

export class StackManager {
  private readonly byName: Map<string, Component>;

  constructor(
    readonly ctx: StackContext,
    readonly components: Component[],
  ) {
    this.byName = new Map(components.map((c) => [c.name, c]));
  }

  /** The named components plus everything they depend on, in start order (none named: all but the optional ones, unless `optional`). */
  resolve(names: string[], optional = false): Component[] {
    const wanted = names.length > 0 ? names : this.components.filter((c) => optional || !c.optional).map((c) => c.name);
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

  /** Install everything first (downloads in parallel), then start in dependency waves. */
  async up(names: string[] = [], opts: { withDbt?: boolean; optional?: boolean } = {}): Promise<void> {
    const list = this.resolve(names, opts.optional);
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
  }

  private async startOne(c: Component): Promise<void> {
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
    if (fs.existsSync(pf)) {
      ctx.progress(`[up] ${c.name}: removing stale pidfile`);
      fs.rmSync(pf);
    }
    for (const p of portOf[c.name] ?? []) await assertPortFree(ctx.ports[p.key], c.name, `${ctx.profile === 'test' ? 'TEST_' : ''}${p.env}`);
    await c.prepare?.(ctx);
    const spec = await c.process(ctx);
    const t0 = Date.now();
    const started = spawnDetached(spec, logFile(ctx, c), pf);
    const startedPid = started.pid;
    ctx.progress(`[up] ${c.name}: started pid ${started.pid}, waiting for it to become healthy`);
    const deadline = t0 + c.startTimeoutSeconds * 1000;
    while (true) {
      if (!isOurs(started)) {
        removePidfileOf(pf, startedPid);
        throw new StackError(`${c.name} exited during start. Last lines of ${logFile(ctx, c)}:\n${tailFile(logFile(ctx, c))}`);
      }
      if (await c.healthy(ctx)) break;
      if (Date.now() > deadline) {
        await stopProcess(started, c.stopSignal, 10_000);
        removePidfileOf(pf, startedPid);
        throw new StackError(`${c.name} did not become healthy within ${c.startTimeoutSeconds} s and was stopped. Last lines of ${logFile(ctx, c)}:\n${tailFile(logFile(ctx, c))}`);
      }
      await sleep(500);
    }
    await c.afterStart?.(ctx);
    ctx.progress(`[up] ${c.name}: healthy in ${((Date.now() - t0) / 1000).toFixed(1)} s — ${c.url(ctx)}`);
  }

  /** Stop in reverse dependency order; only processes recorded in our pidfiles. */
  async down(names: string[] = []): Promise<void> {
    const list = names.length > 0 ? names.map((n) => this.resolve([n]).at(-1)!) : this.components;
    const order = this.resolve(list.map((c) => c.name)).filter((c) => list.includes(c)).reverse();
    for (const c of order) {
      const pf = pidFile(this.ctx, c);
      const rec = readPidfile(pf);
      if (!isOurs(rec)) {
        if (fs.existsSync(pf)) fs.rmSync(pf);
        continue;
      }
      const how = await stopProcess(rec, c.stopSignal);
      fs.rmSync(pf, { force: true });
      this.ctx.progress(`[down] ${c.name}: ${how} (pid ${rec.pid})`);
    }
  }

  /**
   * Send `signal` to a running component, by the pid its pidfile records (and
   * only while that pid is still the process we started); SIGKILL takes its
   * whole process group (Postgres backends, a JVM's children), as a crash
   * would. The pidfile is left for `up`, which cleans it as stale. Returns
   * the pid signalled, or undefined when the component was not running.
   */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | undefined> {
    const c = this.resolve([name]).at(-1)!;
    const rec = this.running(c);
    if (!rec) return undefined;
    const { pid } = rec;
    process.kill(signal === 'SIGKILL' ? -pid : pid, signal);
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      await sleep(100);
      alive = isOurs(rec);
    }
    if (alive) throw new StackError(`${name} (pid ${pid}) still runs 10 s after ${signal}`);
    this.ctx.progress(`[kill] ${name}: ${signal} (pid ${pid})`);
    return pid;
  }

  async status(): Promise<StatusRow[]> {
    const rows: StatusRow[] = await Promise.all(
      this.components.map(async (c) => {
        const rec = this.running(c);
        if (!rec) return { name: c.name, state: 'stopped' as const, url: c.optional ? `optional: \`up ${c.name}\` starts it (${c.url(this.ctx)})` : c.url(this.ctx) };
        const ok = await c.healthy(this.ctx);
        return { name: c.name, state: ok ? ('healthy' as const) : ('unhealthy' as const), pid: rec.pid, rssMiB: rssMiB(rec.pid), url: c.url(this.ctx) };
      }),
    );
    const dbt = await dbtVersion(this.ctx);
    rows.push({ name: 'dbt', state: dbt ? 'installed' : 'not installed', url: dbt ?? 'run `up` to install' });
    return rows;
  }
}
