/**
 * `backup verify`: restore the backup into scratch databases (its own names
 * with a prefix), compare every table's rows and checksum with the manifest,
 * check the Postgres files' digests, record the outcome beside the backup
 * (verified.json) and drop the scratch copy. A tampered file fails the
 * restore itself (ClickHouse checks its parts) or a comparison.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dropLeftovers, restoreStatement, runAsync, tableChecksums } from '../../connectors/clickhouse/backup.ts';
import type { ClickHouseClient } from '../../connectors/clickhouse/client.ts';
import type { ObjectStore } from '../../connectors/object-store/store.ts';
import { sha256 } from '../../connectors/postgres/base-backup.ts';
import { compareChecksums, VERIFIED_FILE, type Manifest, type Verified } from './manifest.ts';

export const VERIFY_PREFIX = 'astros_verify_';

async function postgresDifferences(store: ObjectStore, m: Manifest): Promise<string[]> {
  if (!m.postgres) return [];
  const out: string[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'astros-verify-'));
  try {
    for (const f of m.postgres.files) {
      const local = path.join(dir, f.name);
      try {
        await store.getToFile(`${m.name}/postgres/${f.name}`, local);
      } catch (err) {
        out.push(`postgres/${f.name}: ${(err as Error).message}`);
        continue;
      }
      const digest = await sha256(local);
      if (digest !== f.sha256) out.push(`postgres/${f.name}: sha256 ${digest.slice(0, 12)}…, the manifest says ${f.sha256.slice(0, 12)}…`);
      fs.rmSync(local);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

export async function verifyBackup(ch: ClickHouseClient, store: ObjectStore, m: Manifest, say: (s: string) => void): Promise<Verified & { differences: string[] }> {
  await dropLeftovers(ch, VERIFY_PREFIX);
  const scratch = Object.fromEntries(m.clickhouse.databases.map((db, i) => [db, `${VERIFY_PREFIX}${Date.now().toString(36)}_${i}`]));
  const differences: string[] = [];
  try {
    try {
      await runAsync(ch, restoreStatement(m.clickhouse.databases, store.clickhouseDestination(`${m.name}/clickhouse`), scratch), (p) =>
        say(`restoring ${m.name} into ${Object.values(scratch).join(', ')}: ${p.files} files`),
      );
    } catch (err) {
      differences.push(`the restore failed: ${(err as Error).message}`);
    }
    if (differences.length === 0) {
      // The scratch copy must not change under the comparison (a TTL merge would drop expired change-log rows).
      const tables = await ch.query({ query: 'SELECT database || \'.\' || name AS t FROM system.tables WHERE database IN {dbs:Array(String)}', query_params: { dbs: Object.values(scratch) }, format: 'JSONEachRow' });
      for (const { t } of await tables.json<{ t: string }>()) await ch.command({ query: `SYSTEM STOP MERGES ${t}` }).catch(() => undefined);
      say('comparing rows and checksums with the manifest');
      const got = [];
      const unreadable: string[] = [];
      for (const [db, as] of Object.entries(scratch)) {
        // A corrupted part restores (RESTORE copies files) but fails when read: a difference, not a reason to retry.
        got.push(...(await tableChecksums(ch, as, db).catch((err: Error) => (unreadable.push(`${db}: reading the restored copy failed: ${err.message.split(': While')[0]}`), []))));
      }
      differences.push(...unreadable, ...(unreadable.length > 0 ? [] : compareChecksums(m.clickhouse.tables, got)));
    }
    say('checking the Postgres files');
    differences.push(...(await postgresDifferences(store, m)));
  } finally {
    for (const db of Object.values(scratch)) await ch.command({ query: `DROP DATABASE IF EXISTS ${db} SYNC` }).catch(() => undefined);
  }
  const ok = differences.length === 0;
  const summary = ok
    ? `${m.name}: restored into a scratch copy, ${m.clickhouse.tables.length} tables agree with the manifest (rows and checksums)${m.postgres ? `, ${m.postgres.files.length} Postgres files match their digests` : ''}`
    : `${m.name}: ${differences.length} difference(s): ${differences.slice(0, 5).join('; ')}`;
  const verified: Verified = { at: new Date().toISOString(), ok, summary };
  await store.put(`${m.name}/${VERIFIED_FILE}`, `${JSON.stringify(verified)}\n`);
  return { ...verified, differences };
}
