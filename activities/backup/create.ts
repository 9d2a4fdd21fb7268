/**
 * `backup create`: ClickHouse's own BACKUP (full, or incremental on the
 * newest complete backup), the pipeline's position read just before it, the
 * tables' counts and checksums read back from the backup itself (ClickHouse's
 * Backup database engine, so they describe exactly what was stored while the
 * stream keeps writing), optionally a Postgres base backup, and the manifest
 * last. Idempotent per name: a retried activity reuses a finished
 * ClickHouse part and redoes the rest.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backupDatabases, backupStatement, consumerObjects, dropLeftovers, namesOf, newestLsn, readBackup, READ_PREFIX, runAsync, tableChecksums } from '../../connectors/clickhouse/backup.ts';
import { LocalStore } from '../../connectors/object-store/local.ts';
import type { ObjectStore } from '../../connectors/object-store/store.ts';
import { baseBackup, describeFiles } from '../../connectors/postgres/base-backup.ts';
import type { BackupDeps } from './deps.ts';
import { backupName, listBackups, MANIFEST_FILE, type Manifest } from './manifest.ts';
import { catalogRows, slots, streamPosition } from './position.ts';

export type CreateDeps = BackupDeps & { say: (step: string) => void };

export interface CreateInput {
  /** When the workflow started (its deterministic clock): names the backup. */
  at: string;
  incremental: boolean;
  postgres: boolean;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export async function createBackup(d: CreateDeps, store: ObjectStore, input: CreateInput): Promise<Manifest> {
  const t0 = Date.now();
  const entries = await listBackups(store);
  const base = input.incremental ? entries.filter((e) => e.manifest).at(-1)?.manifest : undefined;
  const kind = base ? 'incremental' : 'full';
  const name = backupName(new Date(input.at), kind);
  const done = entries.find((e) => e.name === name)?.manifest;
  if (done) return done;
  const ch = d.clickhouse;
  await dropLeftovers(ch, READ_PREFIX);

  d.say('reading the position: consumer offsets, slots, catalog, schemas');
  const tables = await streamPosition(d.pool, d.kafka, d.endpoints);
  const [slotRows, catalog, schemas] = await Promise.all([slots(d.pool, d.endpoints), catalogRows(d.pool), d.registry.allSchemas()]);

  const chKey = `${name}/clickhouse`;
  const names = tables.map((t) => namesOf(t.source, d.endpoints.groupPrefix));
  const excluded = await consumerObjects(ch, backupDatabases, names);
  const destination = store.clickhouseDestination(chKey);
  if ((await store.get(`${chKey}/.backup`)) === undefined) {
    await store.remove(chKey);
    const statement = backupStatement(backupDatabases, excluded, destination, base ? store.clickhouseDestination(`${base.name}/clickhouse`) : undefined);
    await runAsync(ch, statement, (p) => d.say(`ClickHouse ${kind} backup: ${p.files} files, ${mb(p.bytes)}`));
  }
  d.say('reading the backup back: counts and checksums per table');
  const checksums = await readBackup(ch, backupDatabases, destination, name.replace(/\W/g, '_').toLowerCase(), async (readAs) => {
    for (const [t, n] of tables.map((x, i) => [x, names[i]!] as const)) t.newestLsn = await newestLsn(ch, `${readAs[n.database]}.${n.changes.slice(n.database.length + 1)}`);
    const out = [];
    for (const db of backupDatabases) out.push(...(await tableChecksums(ch, readAs[db]!, db)));
    return out;
  });
  const stored = await store.list(chKey);
  const chSeconds = (Date.now() - t0) / 1000;

  let postgres: Manifest['postgres'];
  let pgSeconds: number | undefined;
  if (input.postgres && d.endpoints.backup.pgUrl) {
    const p0 = Date.now();
    // A directory target takes pg_basebackup's files where they belong; a bucket gets them uploaded.
    const local = store instanceof LocalStore;
    const dir = local ? path.join(store.location, name, 'postgres') : fs.mkdtempSync(path.join(os.tmpdir(), 'astros-pg-backup-'));
    try {
      fs.rmSync(dir, { recursive: true, force: true });
      await baseBackup(d.endpoints.backup.pgBasebackup, d.endpoints.backup.pgUrl, dir, (done, total) => d.say(`Postgres base backup: ${mb(done * 1024)} of ${mb(total * 1024)}`));
      const files = await describeFiles(dir);
      if (!local) for (const f of files) await store.putFile(`${name}/postgres/${f.name}`, path.join(dir, f.name));
      postgres = { files, bytes: files.reduce((a, f) => a + f.bytes, 0) };
    } finally {
      if (!local) fs.rmSync(dir, { recursive: true, force: true });
    }
    pgSeconds = (Date.now() - p0) / 1000;
  }

  const manifest: Manifest = {
    format: 1,
    name,
    createdAt: new Date(t0).toISOString(),
    kind,
    ...(base ? { base: base.name } : {}),
    clickhouse: { databases: backupDatabases, excluded, files: stored.length, bytes: stored.reduce((a, o) => a + o.size, 0), tables: checksums },
    position: { tables, slots: slotRows, catalog, schemas },
    ...(postgres ? { postgres } : {}),
    seconds: { clickhouse: chSeconds, ...(pgSeconds !== undefined ? { postgres: pgSeconds } : {}), total: (Date.now() - t0) / 1000 },
  };
  await store.put(`${name}/${MANIFEST_FILE}`, `${JSON.stringify(manifest, null, 1)}\n`);
  return manifest;
}
