/**
 * astros backup: back up and restore the whole pipeline (workflows/backup.ts).
 *
 *   astros backup create [--incremental] [--no-postgres] [--keep N]   ClickHouse + position (+ Postgres), workflow backupPipeline
 *   astros backup list                                                 what the target holds
 *   astros backup verify [name]                                        restore into scratch databases, compare with the manifest
 *   astros backup restore [name] [--replace]                           ClickHouse lost: restore, rewind the groups, resume
 *   astros backup restore [name] --postgres-into DIR                   unpack the Postgres base backup into a fresh data directory
 *   astros backup advance-wal                                          after a Postgres restore, before `recover`
 *   astros backup prune [--keep N] [--dry-run]                         keep N backups and the bases they need
 *   astros backup schedule [--interval 1d] [--incremental] [--keep N]  a Temporal schedule of backupPipeline
 *
 * create, verify and restore start workflows and wait like the other commands
 * (exit 5 without a worker, 6 at --timeout; the same command attaches again).
 * The target is BACKUP_TARGET (a directory or s3://bucket[/prefix]) or --target.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { Command, InvalidArgumentError, Option } from 'commander';
import { listBackups, pick, pruneSet, type BackupEntry } from '../activities/backup/manifest.ts';
import { catalogEntries, isCaptured } from '../catalog/store.ts';
import { loadConfigOrExit } from '../config/load.ts';
import { namesOf, newestLsn } from '../connectors/clickhouse/backup.ts';
import { createClickHouse } from '../connectors/clickhouse/client.ts';
import { LocalStore } from '../connectors/object-store/local.ts';
import { openStore } from '../connectors/object-store/open.ts';
import { advanceWal, extractBaseBackup } from '../connectors/postgres/base-backup.ts';
import { withPostgres } from '../connectors/postgres/pool.ts';
import {
  BACKUP_SCHEDULE_ID,
  BACKUP_WORKFLOW_ID,
  BACKUP_WORKFLOW_TYPE,
  RESTORE_WORKFLOW_ID,
  RESTORE_WORKFLOW_TYPE,
  VERIFY_BACKUP_WORKFLOW_ID,
  VERIFY_BACKUP_WORKFLOW_TYPE,
} from '../shared/workflows.ts';
import type { BackupPipelineInput, BackupPipelineResult, RestorePipelineResult } from '../workflows/backup.ts';
import { timeoutOption } from './await-workflow.ts';
import { upsertIngestSchedule, deleteIngestSchedule } from './client.ts';
import { runWorkflow } from './run-workflow.ts';
import { connectWithWorker } from './worker-check.ts';

const log = (m: string) => process.stderr.write(`astros backup: ${m}\n`);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;
const positiveInt = (raw: string) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
};
const targetOption = () => new Option('--target <dir|s3://bucket/prefix>', 'where backups are (default: BACKUP_TARGET)');
const storeFor = (target?: string) => {
  const s = loadConfigOrExit().backup;
  return { store: openStore(target ?? s.target, s), settings: s };
};

/** One line per backup, oldest first. */
export function listLines(entries: BackupEntry[]): string[] {
  return entries.map((e) => {
    const m = e.manifest;
    if (!m) return `${e.name}  incomplete (no manifest: failed or still running)`;
    const v = e.verified ? `verified ${e.verified.ok ? 'ok' : 'FAILED'} ${e.verified.at}` : 'not verified';
    return `${m.name}  ${m.kind}${m.base ? ` on ${m.base}` : ''}  ClickHouse ${mb(m.clickhouse.bytes)}${m.postgres ? `, Postgres ${mb(m.postgres.bytes)}` : ''}  ${m.clickhouse.tables.length} tables  ${v}`;
  });
}

function buildCreate(): Command {
  return new Command('create')
    .description(
      `Back up the pipeline (workflow ${BACKUP_WORKFLOW_TYPE}): ClickHouse's databases with its own BACKUP (the Kafka queues left out), the position ` +
        '(per table the newest LSN, per consumer group and partition the committed offsets, per slot its confirmed LSN, the catalog, the registry\'s schemas), ' +
        'and with a full backup a Postgres base backup (pg_basebackup, needs BACKUP_PG_URL on the worker). Prints its name and sizes.',
    )
    .option('--incremental', 'only what changed since the newest backup (a full one if there is none)')
    .option('--postgres', 'include a Postgres base backup (default: with full backups)')
    .option('--no-postgres', 'leave Postgres out')
    .option('--keep <n>', 'then prune, keeping n backups', positiveInt)
    .addOption(targetOption())
    .addOption(timeoutOption())
    .action(async (o: { incremental?: boolean; postgres?: boolean; keep?: number; target?: string; timeout: number }) => {
      const input: BackupPipelineInput = { ...(o.incremental ? { incremental: true } : {}), ...(o.postgres !== undefined ? { postgres: o.postgres } : {}), ...(o.keep ? { keep: o.keep } : {}), ...(o.target ? { target: o.target } : {}) };
      const { result } = await runWorkflow<BackupPipelineResult>(BACKUP_WORKFLOW_TYPE, BACKUP_WORKFLOW_ID, input, o.timeout, log);
      const b = result.backup;
      console.log(`${b.name}: ${b.kind}${b.base ? ` on ${b.base}` : ''} in ${b.location}; ClickHouse ${mb(b.clickhouseBytes)} (${b.tables} tables)${b.postgresBytes ? `, Postgres ${mb(b.postgresBytes)}` : ''}; ${b.seconds.toFixed(1)} s`);
      if (result.pruned) console.log(`pruned: ${result.pruned.removed.length ? result.pruned.removed.join(', ') : 'nothing'} removed; ${result.pruned.kept.length} kept`);
    });
}

function buildVerify(): Command {
  return new Command('verify')
    .description(`Restore a backup (default: the newest) into scratch databases and compare every table's rows and checksum with its manifest, and the Postgres files with their digests (workflow ${VERIFY_BACKUP_WORKFLOW_TYPE}). Exit 1 when anything differs.`)
    .argument('[name]', 'the backup (astros backup list)')
    .addOption(targetOption())
    .addOption(timeoutOption())
    .action(async (name: string | undefined, o: { target?: string; timeout: number }) => {
      const { result } = await runWorkflow<{ ok: boolean; summary: string; differences: string[] }>(
        VERIFY_BACKUP_WORKFLOW_TYPE,
        VERIFY_BACKUP_WORKFLOW_ID,
        { ...(name ? { name } : {}), ...(o.target ? { target: o.target } : {}) },
        o.timeout,
        log,
      );
      console.log(result.summary);
      for (const d of result.differences) console.log(`  ${d}`);
      if (!result.ok) process.exitCode = 1;
    });
}

async function restorePostgres(name: string | undefined, o: { target?: string; postgresInto: string; owner?: string }): Promise<void> {
  const { store } = storeFor(o.target);
  const m = pick(await listBackups(store), name, store.location);
  if (!m.postgres) throw new Error(`backup ${m.name} has no Postgres base backup (made with --no-postgres, or as an incremental)`);
  const local = store instanceof LocalStore;
  const from = local ? path.join(store.location, m.name, 'postgres') : fs.mkdtempSync(path.join(os.tmpdir(), 'astros-pg-restore-'));
  try {
    if (!local) for (const f of m.postgres.files) await store.getToFile(`${m.name}/postgres/${f.name}`, path.join(from, f.name));
    await extractBaseBackup(from, path.resolve(o.postgresInto), o.owner);
  } finally {
    if (!local) fs.rmSync(from, { recursive: true, force: true });
  }
  console.log(`${m.name}: Postgres base backup unpacked into ${path.resolve(o.postgresInto)} (its WAL in pg_wal; replication slots are not part of it)`);
  console.log('next: start Postgres on it, then `astros backup advance-wal` and `npm run recover` (new slot, every table resynced, validation agreeing)');
}

function buildRestore(): Command {
  return new Command('restore')
    .description(
      `After the ClickHouse host lost its data: restore a backup (default: the newest) with no Kafka queue, rewind each consumer group to the offsets stored with it, ` +
        `create the queues, and resync the tables whose topic no longer holds those offsets (workflow ${RESTORE_WORKFLOW_TYPE}). ` +
        'With --postgres-into DIR instead: unpack the backup\'s Postgres base backup into a fresh data directory (Postgres stopped; no workflow).',
    )
    .argument('[name]', 'the backup (astros backup list)')
    .option('--replace', 'drop the pipeline\'s ClickHouse tables first when the host still has some')
    .option('--postgres-into <dir>', 'unpack the Postgres base backup into this fresh (missing or empty) directory')
    .option('--owner <os-user>', 'with --postgres-into: chown the directory to this OS user (e.g. postgres)')
    .addOption(targetOption())
    .addOption(timeoutOption())
    .action(async (name: string | undefined, o: { replace?: boolean; postgresInto?: string; owner?: string; target?: string; timeout: number }) => {
      if (o.postgresInto) return restorePostgres(name, { ...o, postgresInto: o.postgresInto });
      const input = { ...(name ? { name } : {}), ...(o.target ? { target: o.target } : {}), ...(o.replace ? { replace: true } : {}) };
      const { result: r } = await runWorkflow<RestorePipelineResult>(RESTORE_WORKFLOW_TYPE, RESTORE_WORKFLOW_ID, input, o.timeout, log);
      console.log(`${r.name}: ${r.tables} ClickHouse tables restored (${mb(r.bytes)}); ${r.queues.length} queue(s) created`);
      for (const t of r.rewound) console.log(`${t.source}: group ${t.group} rewound, ${t.replayed.toLocaleString('en-US')} message(s) read again${t.resync ? `; RESYNCED: ${t.resync}` : ''}`);
      for (const t of r.resynced) console.log(`${t.source}: resynced ${t.loadedRows.toLocaleString('en-US')} rows; ${t.validation ?? 'not validated'}`);
      for (const w of r.schemaWarnings) console.log(`warning: ${w}`);
      console.log('next: npm run validate -- --table <table> once the consumers have caught up; npm run dbt rebuilds the marts');
    });
}

function buildAdvanceWal(): Command {
  return new Command('advance-wal')
    .description(
      'After Postgres was restored from a base backup (and started): switch WAL segments until its position is past the newest LSN ClickHouse holds, ' +
        'so changes made from now on sort after every change ClickHouse already has. Run it before `npm run recover`. Needs pg_switch_wal (a superuser).',
    )
    .option('--url <postgres-url>', 'a superuser connection (default: BACKUP_PG_URL)')
    .action(async (o: { url?: string }) => {
      const e = loadConfigOrExit();
      const url = o.url ?? e.backup.pgUrl;
      if (!url) throw new Error('give --url (a superuser connection) or set BACKUP_PG_URL');
      const ch = createClickHouse(e.clickhouseUrl, { requestTimeoutMs: 300_000 });
      try {
        let newest = 0n;
        const captured = await withPostgres(e.databaseUrl, 'astros-backup', async (db) => (await catalogEntries(db)).filter((c) => isCaptured(c.state)));
        for (const x of captured) {
          const lsn = BigInt(await newestLsn(ch, namesOf(x.declaration.source, e.groupPrefix).changes));
          if (lsn > newest) newest = lsn;
        }
        const r = await advanceWal(url, newest, (at) => log(`WAL at ${at}`));
        console.log(`WAL position ${r.from} -> ${r.to} (${r.switches} segment switch(es)); ClickHouse's newest LSN is ${newest}`);
      } finally {
        await ch.close();
      }
    });
}

function buildPrune(): Command {
  return new Command('prune')
    .description('Remove all but the newest N complete backups (and the bases they need), and incomplete ones older than 6 hours. Idempotent.')
    .option('--keep <n>', 'how many to keep (default: BACKUP_KEEP)', positiveInt)
    .option('--dry-run', 'say what would be removed')
    .addOption(targetOption())
    .action(async (o: { keep?: number; dryRun?: boolean; target?: string }) => {
      const { store, settings } = storeFor(o.target);
      const plan = pruneSet(await listBackups(store), o.keep ?? settings.keep, Date.now());
      for (const name of plan.removed) {
        if (o.dryRun) console.log(`would remove ${name}`);
        else console.log(`removed ${name} (${await store.remove(name)} objects)`);
      }
      console.log(`${plan.kept.length} kept in ${store.location}${plan.removed.length === 0 ? '; nothing to remove' : ''}`);
    });
}

function buildSchedule(): Command {
  return new Command('schedule')
    .description(`Create or update the Temporal Schedule ${BACKUP_SCHEDULE_ID} that runs ${BACKUP_WORKFLOW_TYPE} (overlap SKIP), pruning after each run.`)
    .option('--interval <duration>', 'how often (30m, 6h, 1d)', '1d')
    .option('--incremental', 'incremental backups (each on the newest one)')
    .option('--keep <n>', 'backups to keep (default: BACKUP_KEEP)', positiveInt)
    .option('--paused', 'create it paused, or pause it')
    .option('--delete', 'delete the schedule')
    .addOption(targetOption())
    .action(async (o: { interval: string; incremental?: boolean; keep?: number; paused?: boolean; delete?: boolean; target?: string }) => {
      const cfg = loadConfigOrExit();
      const connection = await connectWithWorker(cfg.temporal, { ifNoWorker: 'warn', consequence: 'scheduled runs wait until one does', warn: log });
      try {
        const client = new Client({ connection, namespace: cfg.temporal.namespace });
        if (o.delete) {
          console.log((await deleteIngestSchedule(client, BACKUP_SCHEDULE_ID)) ? `deleted schedule ${BACKUP_SCHEDULE_ID}` : `no schedule ${BACKUP_SCHEDULE_ID}`);
          return;
        }
        const input: BackupPipelineInput = { keep: o.keep ?? cfg.backup.keep, ...(o.incremental ? { incremental: true } : {}), ...(o.target ? { target: o.target } : {}) };
        const outcome = await upsertIngestSchedule(client, {
          scheduleId: BACKUP_SCHEDULE_ID,
          taskQueue: cfg.temporal.taskQueue,
          interval: o.interval,
          workflowType: BACKUP_WORKFLOW_TYPE,
          workflowId: BACKUP_WORKFLOW_ID,
          input,
          ...(o.paused ? { paused: true } : {}),
        });
        console.log(`${outcome} schedule ${BACKUP_SCHEDULE_ID}: ${BACKUP_WORKFLOW_TYPE} every ${o.interval}${o.incremental ? ' (incremental)' : ''}, keeping ${input.keep}`);
      } finally {
        await connection.close();
      }
    });
}

export function buildBackupCommand(): Command {
  return new Command('backup')
    .description('Back up and restore the whole pipeline (ClickHouse, its position in the stream, Postgres) to a directory or an S3-compatible bucket.')
    .addCommand(buildCreate())
    .addCommand(
      new Command('list')
        .description('The backups in the target, oldest first: kind, base, sizes, tables, the latest verify.')
        .addOption(targetOption())
        .option('--json', 'the manifests as JSON')
        .action(async (o: { target?: string; json?: boolean }) => {
          const { store } = storeFor(o.target);
          const entries = await listBackups(store);
          if (o.json) console.log(JSON.stringify(entries, null, 1));
          else console.log(entries.length === 0 ? `no backups in ${store.location}` : [`${store.location}:`, ...listLines(entries)].join('\n'));
        }),
    )
    .addCommand(buildVerify())
    .addCommand(buildRestore())
    .addCommand(buildAdvanceWal())
    .addCommand(buildPrune())
    .addCommand(buildSchedule());
}
