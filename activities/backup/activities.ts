/**
 * The backup activities (workflows/backup.ts), built from their clients and
 * the worker's backup settings. The target's location may come with the
 * input (no secret: S3 credentials stay in the worker's settings). Long steps
 * heartbeat what they are doing, which `astros backup …` prints while it waits.
 */
import { openStore } from '../../connectors/object-store/open.ts';
import { SchemaRegistry } from '../../connectors/registry/client.ts';
import { IngestErrorType, permanentFailure } from '../../shared/errors.ts';
import type { ActivityDeps } from '../deps.ts';
import { heartbeat } from '../heartbeat.ts';
import { createBackup, type CreateInput } from './create.ts';
import { listBackups, pick, pruneSet, sizes } from './manifest.ts';
import { createConsumers, restoreClickHouse, rewindGroups, type Rewound } from './restore.ts';
import { verifyBackup } from './verify.ts';

export interface BackupSummary {
  name: string;
  kind: 'full' | 'incremental';
  base?: string;
  location: string;
  clickhouseBytes: number;
  postgresBytes: number;
  tables: number;
  seconds: number;
}

export interface TargetInput {
  /** A directory or s3://bucket[/prefix]; default: the worker's BACKUP_TARGET. */
  target?: string;
  /** A backup's name; default: the newest complete one. */
  name?: string;
}

/** Heartbeat the latest step every few seconds while `fn` runs (a single long query must not look like a dead worker). */
async function withSteps<T>(fn: (say: (step: string) => void) => Promise<T>): Promise<T> {
  let step = 'starting';
  const say = (s: string) => {
    step = s;
    heartbeat({ step });
  };
  const timer = setInterval(() => heartbeat({ step }), 5_000);
  try {
    return await fn(say);
  } finally {
    clearInterval(timer);
  }
}

export function createBackupActivities(worker: Pick<ActivityDeps, 'pool' | 'clickhouse' | 'kafka' | 'endpoints'>) {
  const deps = { ...worker, registry: new SchemaRegistry(worker.endpoints.registryCcompatUrl) };
  const settings = deps.endpoints.backup;
  const storeOf = (target: string | undefined) => {
    try {
      return openStore(target ?? settings.target, settings);
    } catch (err) {
      throw permanentFailure(IngestErrorType.InvalidInput, (err as Error).message);
    }
  };
  const manifestOf = async (input: TargetInput) => {
    const store = storeOf(input.target);
    try {
      return { store, manifest: pick(await listBackups(store), input.name, store.location) };
    } catch (err) {
      throw permanentFailure(IngestErrorType.InvalidInput, (err as Error).message);
    }
  };

  return {
    async createPipelineBackup(input: CreateInput & { target?: string }): Promise<BackupSummary> {
      const store = storeOf(input.target);
      const m = await withSteps((say) => createBackup({ ...deps, say }, store, input));
      const s = sizes(m);
      return {
        name: m.name,
        kind: m.kind,
        ...(m.base ? { base: m.base } : {}),
        location: store.location,
        clickhouseBytes: s.clickhouse,
        postgresBytes: s.postgres,
        tables: m.clickhouse.tables.length,
        seconds: m.seconds.total,
      };
    },

    async pruneBackups(input: { target?: string; keep?: number }): Promise<{ kept: string[]; removed: string[]; objects: number }> {
      const store = storeOf(input.target);
      const plan = pruneSet(await listBackups(store), input.keep ?? settings.keep, Date.now());
      let objects = 0;
      for (const name of plan.removed) {
        heartbeat({ step: `removing ${name}` });
        objects += await store.remove(name);
      }
      return { ...plan, objects };
    },

    async verifyPipelineBackup(input: TargetInput): Promise<{ name: string; ok: boolean; summary: string; differences: string[] }> {
      const { store, manifest } = await manifestOf(input);
      const v = await withSteps((say) => verifyBackup(deps.clickhouse, store, manifest, say));
      return { name: manifest.name, ok: v.ok, summary: v.summary, differences: v.differences };
    },

    async restoreClickHouseData(input: TargetInput & { replace?: boolean }): Promise<{ name: string; tables: number; bytes: number }> {
      const { store, manifest } = await manifestOf(input);
      const r = await withSteps((say) => restoreClickHouse({ ...deps, say }, store, manifest, input.replace ?? false)).catch((err: Error) => {
        throw /already has/.test(err.message) ? permanentFailure(IngestErrorType.InvalidInput, err.message) : err;
      });
      return { name: manifest.name, tables: r.tables, bytes: r.bytes };
    },

    async rewindConsumerGroups(input: TargetInput): Promise<Rewound[]> {
      const { manifest } = await manifestOf(input);
      return withSteps((say) => rewindGroups({ ...deps, say }, manifest));
    },

    async createRestoredConsumers(input: TargetInput): Promise<{ queues: string[]; schemaWarnings: string[] }> {
      const { manifest } = await manifestOf(input);
      return withSteps((say) => createConsumers({ ...deps, say }, manifest));
    },
  };
}

export type BackupActivities = ReturnType<typeof createBackupActivities>;
