/**
 * What a backup is, as data: its manifest (written last, so a backup without
 * one is incomplete), its name, its chain of bases, and which backups a
 * retention of N keeps. Pure: no I/O (the store is passed in where needed).
 *
 * Layout under the target, one folder per backup:
 *   <name>/clickhouse/     ClickHouse's own BACKUP (incremental: only what the base lacks)
 *   <name>/postgres/       pg_basebackup -Ft -z -X stream: base.tar.gz, pg_wal.tar.gz, backup_manifest
 *   <name>/manifest.json   the pipeline's position, the tables' counts and checksums, sizes
 *   <name>/verified.json   the outcome of the latest `backup verify`
 */
import type { TableChecksum } from '../../connectors/clickhouse/backup.ts';
import type { ObjectStore } from '../../connectors/object-store/store.ts';

export const MANIFEST_FILE = 'manifest.json';
export const VERIFIED_FILE = 'verified.json';

export type { TableChecksum };

/** A captured table's place in the stream at backup time. */
export interface TablePosition {
  source: string;
  topic: string;
  group: string;
  /** Newest source LSN in the backed-up change log (`<t>_changes`), as text. */
  newestLsn: string;
  /** The group's committed offsets, read before ClickHouse was backed up (so the backup holds everything before them); -1: none. */
  offsets: { partition: number; offset: string }[];
}

export interface Manifest {
  format: 1;
  name: string;
  createdAt: string;
  kind: 'full' | 'incremental';
  /** An incremental backup's base (a backup in the same target). */
  base?: string;
  clickhouse: {
    databases: string[];
    /** Objects left out: the Kafka-engine queues and the views that read them (the catalog creates them at restore). */
    excluded: string[];
    files: number;
    bytes: number;
    tables: TableChecksum[];
  };
  position: {
    tables: TablePosition[];
    slots: { slot: string; confirmedFlushLsn: string | null; walStatus: string | null }[];
    /** public.captured_tables as it was. */
    catalog: Record<string, unknown>[];
    /** The registry's schemas (Confluent-compatible API): ClickHouse reads messages by these ids. */
    schemas: { subject: string; version: number; id: number; schema: string }[];
  };
  postgres?: { files: { name: string; bytes: number; sha256: string }[]; bytes: number };
  seconds: { clickhouse: number; postgres?: number; total: number };
}

export interface Verified {
  at: string;
  ok: boolean;
  summary: string;
}

export interface BackupEntry {
  name: string;
  manifest?: Manifest;
  verified?: Verified;
}

/** `20261206T045700123Z-full`: sorts by time. */
export function backupName(at: Date, kind: Manifest['kind']): string {
  return `${at.toISOString().replace(/[-:.]/g, '')}-${kind}`;
}

export const isBackupName = (s: string): boolean => /^\d{8}T\d{9}Z-(full|incremental)$/.test(s);

async function json<T>(store: ObjectStore, key: string): Promise<T | undefined> {
  const b = await store.get(key);
  return b === undefined ? undefined : (JSON.parse(b.toString('utf8')) as T);
}

/** Every backup folder under the target, oldest first, with its manifest when complete. */
export async function listBackups(store: ObjectStore): Promise<BackupEntry[]> {
  const names = (await store.folders('')).filter(isBackupName).sort();
  return Promise.all(
    names.map(async (name) => {
      const [manifest, verified] = await Promise.all([json<Manifest>(store, `${name}/${MANIFEST_FILE}`), json<Verified>(store, `${name}/${VERIFIED_FILE}`)]);
      return { name, ...(manifest ? { manifest } : {}), ...(verified ? { verified } : {}) };
    }),
  );
}

/** The newest complete backup, reading manifests from the newest folder back (cheap enough to ask every few seconds). */
export async function newestComplete(store: ObjectStore): Promise<Manifest | undefined> {
  const names = (await store.folders('')).filter(isBackupName).sort().reverse();
  for (const name of names) {
    const m = await json<Manifest>(store, `${name}/${MANIFEST_FILE}`);
    if (m) return m;
  }
  return undefined;
}

/** The named backup's manifest, or the newest complete one; a clear error when there is none. */
export function pick(entries: BackupEntry[], name: string | undefined, location: string): Manifest {
  const complete = entries.filter((e) => e.manifest);
  if (name === undefined) {
    const newest = complete.at(-1)?.manifest;
    if (!newest) throw new Error(`no complete backup in ${location} (astros backup create makes one)`);
    return newest;
  }
  const e = entries.find((x) => x.name === name);
  if (!e) throw new Error(`no backup ${name} in ${location} (astros backup list shows them)`);
  if (!e.manifest) throw new Error(`backup ${name} in ${location} is incomplete (no ${MANIFEST_FILE}: it failed or is still running)`);
  return e.manifest;
}

/** A backup and every base it needs, newest first. */
export function chain(entries: BackupEntry[], name: string): string[] {
  const out: string[] = [];
  for (let n: string | undefined = name; n !== undefined; n = entries.find((e) => e.name === n)?.manifest?.base) {
    if (out.includes(n)) throw new Error(`backup ${name}: its bases form a cycle at ${n}`);
    out.push(n);
  }
  return out;
}

/**
 * Which backups a retention of `keep` removes: every complete backup but the
 * newest `keep` and the bases those need; incomplete ones older than
 * `staleMs` (a failed run's leftovers; a younger one may still be running).
 */
export function pruneSet(entries: BackupEntry[], keep: number, now: number, staleMs = 6 * 3_600_000): { kept: string[]; removed: string[] } {
  const complete = entries.filter((e) => e.manifest).map((e) => e.name);
  const kept = new Set(complete.slice(-keep).flatMap((n) => chain(entries, n)));
  const stale = (e: BackupEntry) => !e.manifest && now - Date.parse(nameTime(e.name)) > staleMs;
  const removed = entries.filter((e) => (e.manifest ? !kept.has(e.name) : stale(e))).map((e) => e.name);
  return { kept: [...kept].sort(), removed };
}

/** The ISO time a backup name carries. */
export function nameTime(name: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(name);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z` : '1970-01-01T00:00:00.000Z';
}

/** Bytes of a backup as stored (its ClickHouse part, its Postgres part). */
export function sizes(m: Manifest): { clickhouse: number; postgres: number } {
  return { clickhouse: m.clickhouse.bytes, postgres: m.postgres?.bytes ?? 0 };
}

/** The differences between two sets of table checksums (manifest vs a restored copy), one line each. */
export function compareChecksums(want: TableChecksum[], got: TableChecksum[]): string[] {
  const key = (t: TableChecksum) => `${t.database}.${t.table}`;
  const have = new Map(got.map((t) => [key(t), t]));
  const out: string[] = [];
  for (const w of want) {
    const g = have.get(key(w));
    if (!g) out.push(`${key(w)}: missing from the restored copy`);
    else if (g.rows !== w.rows || g.checksum !== w.checksum) out.push(`${key(w)}: ${g.rows} rows, checksum ${g.checksum}; the manifest says ${w.rows} rows, checksum ${w.checksum}`);
  }
  for (const g of got) if (!want.some((w) => key(w) === key(g))) out.push(`${key(g)}: not in the manifest`);
  return out;
}
