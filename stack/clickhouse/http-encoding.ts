/** Bodies of the HTTP interface (http-handler.ts): reading and decoding requests (gzip, deflate, br, lz4, zstd), the response's content type and compression. */
import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { ClickHouseHttpError, httpError } from './errors.ts';
import { decompressLz4Frames } from './lz4-frame.ts';

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const brotliDecompress = promisify(zlib.brotliDecompress);
const gzip = promisify(zlib.gzip);
const deflate = promisify(zlib.deflate);
const brotliCompress = promisify(zlib.brotliCompress);

export function contentTypeFor(format: string): string {
  const f = format.toLowerCase();
  if (f === 'tabseparated' || f === 'tsv' || f.startsWith('tabseparated') || f.startsWith('tsv')) {
    return 'text/tab-separated-values; charset=UTF-8';
  }
  if (f === 'csv') return 'text/csv; charset=UTF-8; header=absent';
  if (f.startsWith('csv')) return 'text/csv; charset=UTF-8; header=present';
  if (f.endsWith('eachrow') || f.endsWith('eachrowwithprogress') || f === 'jsonlines' || f === 'ndjson') {
    return 'application/x-ndjson; charset=UTF-8';
  }
  if (f.startsWith('json')) return 'application/json; charset=UTF-8';
  if (
    f.startsWith('rowbinary') ||
    f === 'native' ||
    f.startsWith('parquet') ||
    f.startsWith('arrow') ||
    f === 'orc' ||
    f === 'avro' ||
    f === 'msgpack' ||
    f === 'protobuf' ||
    f === 'capnproto' ||
    f === 'npy'
  ) {
    return 'application/octet-stream';
  }
  return 'text/plain; charset=UTF-8';
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function decodeBody(raw: Buffer, encoding: string | undefined): Promise<Buffer> {
  const enc = (encoding ?? '').trim().toLowerCase();
  if (enc === '' || enc === 'identity' || enc === 'none' || raw.length === 0) return raw;
  try {
    switch (enc) {
      case 'gzip':
      case 'x-gzip':
        return await gunzip(raw);
      case 'deflate':
        return await inflate(raw);
      case 'br':
        return await brotliDecompress(raw);
      case 'lz4':
        return decompressLz4Frames(raw);
      case 'zstd': {
        const zstd = (zlib as unknown as { zstdDecompress?: (b: Buffer, cb: (e: Error | null, r: Buffer) => void) => void })
          .zstdDecompress;
        if (!zstd) {
          throw httpError(
            'UNKNOWN_COMPRESSION_METHOD',
            'Content-Encoding zstd is not supported by this embedded server on this Node.js version; use gzip, deflate, br or lz4',
          );
        }
        return await promisify(zstd)(raw);
      }
      default:
        throw httpError('UNKNOWN_COMPRESSION_METHOD', `Unknown HTTP compression method: ${enc}`);
    }
  } catch (err) {
    if (err instanceof ClickHouseHttpError) throw err;
    throw httpError('CANNOT_DECOMPRESS', `Cannot decompress request body (${enc}): ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The response encoding a server would pick for this Accept-Encoding (gzip first). */
export function pickResponseEncoding(accept: string | undefined): 'gzip' | 'deflate' | 'br' | undefined {
  const offered = new Set(
    (accept ?? '')
      .toLowerCase()
      .split(',')
      .map((s) => s.split(';')[0]!.trim()),
  );
  if (offered.has('gzip')) return 'gzip';
  if (offered.has('deflate')) return 'deflate';
  if (offered.has('br')) return 'br';
  return undefined;
}

/** The response body in the encoding the client accepts (enable_http_compression). */
export async function encodeBody(payload: Buffer, encoding: 'gzip' | 'deflate' | 'br', zopts: zlib.ZlibOptions): Promise<Buffer> {
  return encoding === 'gzip' ? gzip(payload, zopts) : encoding === 'deflate' ? deflate(payload, zopts) : brotliCompress(payload);
}
