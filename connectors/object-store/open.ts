/** The store behind a backup target: a directory (local.ts) or an S3-compatible bucket (s3.ts). */
import type { BackupSettings } from '../../config/load.ts';
import { LocalStore } from './local.ts';
import { S3Store } from './s3.ts';
import type { ObjectStore } from './store.ts';

/** The store of a target: an absolute directory, or s3://bucket[/prefix] on the configured endpoint. */
export function openStore(target: string, settings: Pick<BackupSettings, 's3'>): ObjectStore {
  if (target.startsWith('/')) return new LocalStore(target);
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(target);
  if (!m) throw new Error(`backup target ${target}: expected an absolute directory or s3://bucket[/prefix]`);
  if (!settings.s3) throw new Error(`backup target ${target}: set BACKUP_S3_ENDPOINT, BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY`);
  return new S3Store(settings.s3, m[1]!, m[2]!.replace(/\/+$/, ''));
}
