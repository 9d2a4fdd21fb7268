/**
 * The stack's supervisor: looks at every component's pidfile once a second
 * and restarts a component whose process exited without being stopped
 * (`down`) or killed (`kill`) on purpose, with backoff
 * (stack/lib/restart-policy.ts), the way systemd or Kubernetes would. Each
 * restart is counted in `<state>/restarts.json` (`stack status`, the
 * monitor's astros_component_restarts_total).
 *
 * It only watches processes: a component that runs but stops answering is
 * `up`'s to restart (`up` restarts unhealthy components), as a crash loop of
 * health checks on a loaded machine would do more harm than good.
 *
 * Hand-rolled, on purpose: pm2 (AGPL-3.0) and forever each run their own
 * daemon with state in the home folder and would have to own every process
 * (spawn them itself), while the stack's processes are started by `up` with
 * per-stack pidfiles; what is needed here is the pidfile look, a backoff
 * function and a record, about 150 lines.
 */
import type { StackManager } from './manager.ts';
import { pidFile, seen } from './manager.ts';
import { afterRestart, decide, defaultBackoff, idle, type Backoff, type Watch } from './restart-policy.ts';
import { readRestarts, writeRestarts, type RestartEntry } from './restarts.ts';
import type { Component } from './types.ts';

export interface SupervisorOptions {
  backoff?: Backoff;
  now?: () => number;
  log?: (m: string) => void;
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

export class Supervisor {
  private readonly watches = new Map<string, Watch>();
  private readonly restarting = new Map<string, Promise<void>>();
  private readonly backoff: Backoff;
  private readonly now: () => number;
  private readonly log: (m: string) => void;

  constructor(
    private readonly manager: StackManager,
    opts: SupervisorOptions = {},
  ) {
    this.backoff = opts.backoff ?? defaultBackoff;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? ((m) => console.log(`${new Date().toISOString()} ${m}`));
  }

  /** One look at every component; restarts run in the background, one per component at a time. */
  async look(): Promise<void> {
    for (const c of this.manager.components) {
      if (this.restarting.has(c.name)) continue;
      const now = this.now();
      const s = seen(pidFile(this.manager.ctx, c));
      // A process gone while `up` starts it or `down` stops it is theirs to report, not a crash.
      if (s.kind === 'crashed' && (await this.manager.busy(c))) continue;
      const d = decide(this.watches.get(c.name) ?? idle, s, now, this.backoff);
      this.watches.set(c.name, d.watch);
      if (d.newCrash && s.kind === 'crashed') {
        const inS = Math.max(0, ((d.watch.restartAt ?? now) - now) / 1000);
        this.log(`${c.name}: pid ${s.pid} exited without being stopped; restarting it in ${inS} s${d.watch.failures > 1 ? ` (crash ${d.watch.failures} in a row)` : ''}`);
        this.update(c.name, (e) => ({ ...e, lastCrashAt: new Date(now).toISOString() }));
      }
      if (d.restart) {
        const p = this.restart(c).finally(() => this.restarting.delete(c.name));
        this.restarting.set(c.name, p);
      }
    }
  }

  /** Resolves once the restarts in progress have finished (tests). */
  async settled(): Promise<void> {
    await Promise.all(this.restarting.values());
  }

  private async restart(c: Component): Promise<void> {
    const w = this.watches.get(c.name) ?? idle;
    try {
      const r = await this.manager.restartCrashed(c);
      if (r === 'handled') {
        this.watches.set(c.name, idle);
        return;
      }
      this.watches.set(c.name, afterRestart(w, r, this.now(), this.backoff));
      this.update(c.name, (e) => ({ restarts: e.restarts + 1, ...(e.lastCrashAt ? { lastCrashAt: e.lastCrashAt } : {}) }));
      this.log(`${c.name}: restarted, pid ${r.pid}`);
    } catch (err) {
      const next = afterRestart(w, { failed: true }, this.now(), this.backoff);
      this.watches.set(c.name, next);
      this.update(c.name, (e) => ({ ...e, restarts: e.restarts + 1, lastError: firstLine(err) }));
      this.log(`${c.name}: restart failed (${firstLine(err)}); next try in ${((next.restartAt ?? 0) - this.now()) / 1000} s`);
    }
  }

  private update(name: string, f: (e: RestartEntry) => RestartEntry): void {
    const record = readRestarts(this.manager.ctx.stateDir);
    record[name] = f(record[name] ?? { restarts: 0 });
    writeRestarts(this.manager.ctx.stateDir, record);
  }
}
