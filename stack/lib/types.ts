/**
 * The contract every native-stack component implements. The stack manager
 * (stack/lib/manager.ts) owns processes: it spawns what `start` describes,
 * writes the pidfile, sends output to the component's log file, waits for
 * `healthy`, and on failure shows the log tail. Components never spawn their
 * long-lived process themselves.
 */
import type { ServiceHosts } from '../../config/cluster.ts';
import type { Ports, Profile } from '../../config/profiles.ts';

export type { Ports, Profile, ServiceHosts };

export interface StackContext {
  profile: Profile;
  ports: Ports;
  /** Where each service is reached (loopback, or the cluster's hosts). */
  hosts: ServiceHosts;
  /** The address this component binds: 127.0.0.1, or in the cluster its host's address. */
  bind: string;
  /** In the cluster, the name of one of several instances of a component (kafka2, connect1): its state, config and pidfile. */
  instance?: string;
  /** Absolute path of the repository checkout. */
  repoRoot: string;
  /** Per-profile state: `<repo>/.stack/<profile>`; data under `<stateDir>/<component>`. */
  stateDir: string;
  /** Per-user download/unpack cache shared by every clone: `~/.cache/astros-cdc`. */
  cacheDir: string;
  /** `<stateDir>/logs` */
  logDir: string;
  /** `<stateDir>/pids` */
  pidDir: string;
  /** The Python 3 that unpacks wheels and makes dbt's virtualenv (PYTHON, default python3). */
  python: string;
  /** Progress output for long work (downloads, unpacking). */
  progress(message: string): void;
}

/** What the manager spawns for a component. */
export interface ProcessSpec {
  command: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string>;
  /** Run as this unprivileged OS user (e.g. Postgres refuses root). */
  user?: string;
}

export interface Component {
  /** Short name used for the pidfile, the log file and the CLI. */
  name: string;
  /** Started only when named (`up prometheus`) or when `up` is asked for optional components. */
  optional?: boolean;
  /** Started only when named, never as one of the optional components (the standby: a second Postgres only its test starts). */
  namedOnly?: boolean;
  /** In the cluster profile, the host it runs on (its network namespace and address). */
  host?: { name: string; namespace: string; address: string };
  /** Names of components that must be healthy before this one starts. */
  dependsOn: string[];
  /** Human-facing URL or address printed by `status`. */
  url(ctx: StackContext): string;
  /** Download/unpack into ctx.cacheDir. Idempotent and fast when cached. */
  install(ctx: StackContext): Promise<void>;
  /** One-time per state dir preparation (initdb, storage format, config files). Idempotent. */
  prepare?(ctx: StackContext): Promise<void>;
  /** The long-lived process to run. */
  process(ctx: StackContext): Promise<ProcessSpec>;
  /** True when the component answers as it should. Must not throw. */
  healthy(ctx: StackContext): Promise<boolean>;
  /** Seconds to wait for health after spawn (cold JVMs are slow here). */
  startTimeoutSeconds: number;
  /** Work after the process is healthy (create database, publication...). Idempotent. */
  afterStart?(ctx: StackContext): Promise<void>;
  /** Optional graceful stop (default: SIGTERM, then SIGKILL after a grace period). */
  stopSignal?: NodeJS.Signals;
}
