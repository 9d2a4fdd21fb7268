/**
 * Backups of the whole pipeline (activities/backup/), startable from the CLI
 * (`astros backup …`), the Web UI and a schedule. Deterministic code only.
 *
 *   backupPipeline   ClickHouse (full, or incremental on the newest backup),
 *                    the pipeline's position, optionally a Postgres base
 *                    backup; then, when `keep` is given, prune to that many
 *   verifyBackup     restore into scratch databases, compare with the manifest
 *   restorePipeline  after ClickHouse lost its data: restore the tables with
 *                    no queue, rewind each consumer group to the offsets
 *                    stored with the backup, create the queues, resync the
 *                    tables whose topic no longer holds those offsets
 */
import { executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import { nonRetryableErrorTypes } from '../shared/errors.ts';
import type { BackupSummary } from '../activities/backup/activities.ts';
import type { Rewound } from '../activities/backup/restore.ts';
import { resyncTable } from './resync-table.ts';

export interface BackupPipelineInput {
  /** A directory or s3://bucket[/prefix]; default: the worker's BACKUP_TARGET. */
  target?: string;
  /** Only what changed since the newest backup (a full one when there is none). */
  incremental?: boolean;
  /** Include a Postgres base backup (default: with full backups only; needs BACKUP_PG_URL on the worker). */
  postgres?: boolean;
  /** Prune afterwards, keeping this many backups (and the bases they need). */
  keep?: number;
}

export interface BackupPipelineResult {
  backup: BackupSummary;
  pruned?: { kept: string[]; removed: string[] };
}

export interface RestorePipelineInput {
  target?: string;
  /** Default: the newest complete backup. */
  name?: string;
  /** Drop the pipeline's ClickHouse tables first when the host still has some. */
  replace?: boolean;
}

export interface RestorePipelineResult {
  name: string;
  tables: number;
  bytes: number;
  rewound: Rewound[];
  queues: string[];
  resynced: { source: string; reason: string; loadedRows: number; validation?: string }[];
  schemaWarnings: string[];
}

const retry = { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes };

const { createPipelineBackup, pruneBackups, verifyPipelineBackup, rewindConsumerGroups, createRestoredConsumers } = proxyActivities<IngestActivities>({
  startToCloseTimeout: 2 * 3_600_000,
  heartbeatTimeout: 60_000,
  retry,
});

// Once only: a retry after a partial restore would find the host's tables and refuse (run again with replace).
const { restoreClickHouseData } = proxyActivities<IngestActivities>({
  startToCloseTimeout: 2 * 3_600_000,
  heartbeatTimeout: 60_000,
  retry: { ...retry, maximumAttempts: 1 },
});

export async function backupPipeline(input: BackupPipelineInput = {}): Promise<BackupPipelineResult> {
  const incremental = input?.incremental ?? false;
  const backup = await createPipelineBackup({
    ...(input?.target ? { target: input.target } : {}),
    at: new Date(workflowInfo().startTime).toISOString(),
    incremental,
    postgres: input?.postgres ?? !incremental,
  });
  if (input?.keep === undefined) return { backup };
  const pruned = await pruneBackups({ ...(input.target ? { target: input.target } : {}), keep: input.keep });
  return { backup, pruned: { kept: pruned.kept, removed: pruned.removed } };
}

export async function verifyBackup(input: { target?: string; name?: string } = {}): Promise<{ name: string; ok: boolean; summary: string; differences: string[] }> {
  return verifyPipelineBackup({ ...(input?.target ? { target: input.target } : {}), ...(input?.name ? { name: input.name } : {}) });
}

export async function restorePipeline(input: RestorePipelineInput = {}): Promise<RestorePipelineResult> {
  const target = input?.target ? { target: input.target } : {};
  const restored = await restoreClickHouseData({ ...target, ...(input?.name ? { name: input.name } : {}), ...(input?.replace ? { replace: true } : {}) });
  const which = { ...target, name: restored.name };
  const rewound = await rewindConsumerGroups(which);
  const { queues, schemaWarnings } = await createRestoredConsumers(which);
  const resynced: RestorePipelineResult['resynced'] = [];
  for (const r of rewound.filter((x) => x.resync !== undefined)) {
    const out = await executeChild(resyncTable, { workflowId: `${workflowInfo().workflowId}-resync-${r.source}-${workflowInfo().runId.slice(0, 8)}`, args: [{ source: r.source }] });
    resynced.push({ source: r.source, reason: r.resync!, loadedRows: out.loadedRows, ...(out.validation ? { validation: out.validation.summary } : {}) });
  }
  return { name: restored.name, tables: restored.tables, bytes: restored.bytes, rewound, queues, resynced, schemaWarnings };
}
