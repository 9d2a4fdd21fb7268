/**
 * A backup target in an S3-compatible bucket (path-style requests, AWS
 * Signature V4 by aws4fetch): the stack's SeaweedFS, MinIO, AWS S3. Uploads
 * are single PUTs with an unsigned, streamed payload (up to 5 GiB a file).
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { AwsClient } from 'aws4fetch';
import { sqlString, type ObjectStore, type StoredObject } from './store.ts';

export interface S3Settings {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

const xmlValues = (xml: string, tag: string): string[] => [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))].map((m) => unescapeXml(m[1]!));
const unescapeXml = (s: string) => s.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&quot;', '"').replaceAll('&apos;', "'").replaceAll('&amp;', '&');

/** Does the server answer these credentials (its bucket list)? Never throws. */
export async function s3Answers(s3: S3Settings, timeoutMs = 2_000): Promise<boolean> {
  const aws = new AwsClient({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region, service: 's3' });
  try {
    return (await aws.fetch(`${s3.endpoint.replace(/\/+$/, '')}/`, { signal: AbortSignal.timeout(timeoutMs) })).ok;
  } catch {
    return false;
  }
}

export class S3Store implements ObjectStore {
  private readonly aws: AwsClient;
  private readonly base: string;
  private bucketReady = false;

  constructor(
    private readonly s3: S3Settings,
    readonly bucket: string,
    readonly prefix: string,
  ) {
    this.aws = new AwsClient({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region, service: 's3' });
    this.base = `${s3.endpoint.replace(/\/+$/, '')}/${bucket}`;
  }

  get location(): string {
    return `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
  }

  private objectKey(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private url(key: string): string {
    return `${this.base}/${this.objectKey(key).split('/').map(encodeURIComponent).join('/')}`;
  }

  private async request(url: string, init: RequestInit & { okStatus?: number[] } = {}): Promise<Response> {
    const { okStatus, ...rest } = init;
    let res: Response;
    try {
      res = await this.aws.fetch(url, { ...rest, signal: AbortSignal.timeout(120_000) });
    } catch (err) {
      throw new Error(`S3 ${rest.method ?? 'GET'} ${url}: ${(err as Error).message} (is BACKUP_S3_ENDPOINT ${this.s3.endpoint} up?)`, { cause: err });
    }
    if (!res.ok && !(okStatus ?? []).includes(res.status)) {
      const body = (await res.text()).slice(0, 300);
      throw new Error(`S3 ${rest.method ?? 'GET'} ${url}: HTTP ${res.status} ${xmlValues(body, 'Code')[0] ?? ''} ${xmlValues(body, 'Message')[0] ?? body}`.trim());
    }
    return res;
  }

  /** Create the bucket once (idempotent: one already owned is fine). */
  async ensureBucket(): Promise<void> {
    if (this.bucketReady) return;
    await this.request(this.base, { method: 'PUT', okStatus: [409] });
    this.bucketReady = true;
  }

  async put(key: string, body: string | Buffer): Promise<void> {
    await this.ensureBucket();
    await this.request(this.url(key), { method: 'PUT', body: typeof body === 'string' ? body : new Uint8Array(body) });
  }

  async putFile(key: string, file: string): Promise<void> {
    await this.ensureBucket();
    const size = fs.statSync(file).size;
    if (size > 5 * 1024 ** 3) throw new Error(`${file} is ${size} bytes: single-PUT uploads stop at 5 GiB`);
    const signed = await this.aws.sign(this.url(key), { method: 'PUT', headers: { 'content-length': String(size), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    const res = await fetch(signed.url, {
      method: 'PUT',
      headers: signed.headers,
      body: Readable.toWeb(fs.createReadStream(file)) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    if (!res.ok) throw new Error(`S3 PUT ${signed.url}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  }

  async get(key: string): Promise<Buffer | undefined> {
    const res = await this.request(this.url(key), { okStatus: [404] });
    if (res.status === 404) return undefined;
    return Buffer.from(await res.arrayBuffer());
  }

  async getToFile(key: string, file: string): Promise<void> {
    const res = await this.request(this.url(key));
    if (!res.body) throw new Error(`S3 GET ${key}: empty body`);
    await pipeline(Readable.fromWeb(res.body as NodeReadableStream), fs.createWriteStream(file));
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const full = this.objectKey(prefix);
    let token: string | undefined;
    for (;;) {
      const q = new URLSearchParams({ 'list-type': '2', prefix: full, ...(token ? { 'continuation-token': token } : {}) });
      const res = await this.request(`${this.base}?${q}`, { okStatus: [404] });
      if (res.status === 404) return []; // no bucket yet: nothing stored
      const xml = await res.text();
      for (const c of xml.split('<Contents>').slice(1)) {
        const key = xmlValues(c, 'Key')[0]!;
        out.push({ key: this.prefix ? key.slice(this.prefix.length + 1) : key, size: Number(xmlValues(c, 'Size')[0] ?? 0) });
      }
      token = xmlValues(xml, 'NextContinuationToken')[0];
      if (xmlValues(xml, 'IsTruncated')[0] !== 'true' || !token) break;
    }
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async folders(prefix: string): Promise<string[]> {
    const full = [this.prefix, prefix].filter(Boolean).join('/');
    const out: string[] = [];
    let token: string | undefined;
    for (;;) {
      const q = new URLSearchParams({ 'list-type': '2', delimiter: '/', prefix: full ? `${full}/` : '', ...(token ? { 'continuation-token': token } : {}) });
      const res = await this.request(`${this.base}?${q}`, { okStatus: [404] });
      if (res.status === 404) return [];
      const xml = await res.text();
      for (const p of xmlValues(xml, 'Prefix').filter((x) => x.length > (full ? full.length + 1 : 0))) out.push(p.slice(full ? full.length + 1 : 0).replace(/\/$/, ''));
      token = xmlValues(xml, 'NextContinuationToken')[0];
      if (xmlValues(xml, 'IsTruncated')[0] !== 'true' || !token) break;
    }
    return [...new Set(out)].sort();
  }

  async remove(prefix: string): Promise<number> {
    const objects = await this.list(prefix);
    // A few at a time: a backup is many small files.
    for (let i = 0; i < objects.length; i += 8) {
      await Promise.all(objects.slice(i, i + 8).map((o) => this.request(this.url(o.key), { method: 'DELETE', okStatus: [404] })));
    }
    return objects.length;
  }

  clickhouseDestination(key: string): string {
    return `S3(${sqlString(`${this.url(key)}/`)}, ${sqlString(this.s3.accessKeyId)}, ${sqlString(this.s3.secretAccessKey)})`;
  }
}
