/**
 * Streamed inserts: an INSERT's body in a line format is cut at row
 * boundaries into chunks, each handed to the engine as its own INSERT while
 * the next one is read, so memory is two chunks whatever the body's size, and
 * receiving the rows overlaps parsing them (a buffered body is read whole
 * before the engine sees its first byte).
 *
 * The terms are chDB's own streaming insert's (chdb 3.4.0, `Session.insert`
 * with a stream source), kept here because that API takes a table name, not
 * the client's INSERT statement (its columns, SETTINGS, database):
 * - line formats only: TSV/TabSeparated and the JSON*EachRow ones escape
 *   newlines inside values, so every raw '\n' ends a row and every chunk is a
 *   valid INSERT on its own. CSV (newlines legal inside quotes) and the
 *   WithNames variants (a header per chunk) stay buffered.
 * - at least once: chunks already inserted stay when a later one fails; the
 *   client sees the error and retries the whole body, so a retried body can
 *   insert its first rows twice (a ReplacingMergeTree collapses them; a
 *   plain MergeTree keeps both).
 * - one part per chunk (and per view target): chunks are large on purpose.
 */
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { httpError } from './errors.ts';

/** Formats whose raw newline always ends a row. */
const lineFormats = new Set(['tsv', 'tabseparated', 'tsvraw', 'tabseparatedraw', 'jsoneachrow', 'jsoncompacteachrow', 'jsonstringseachrow', 'jsonlines', 'ndjson']);

export const isLineFormat = (format: string | undefined): boolean => format !== undefined && lineFormats.has(format.toLowerCase());

/** Target chunk size: about 70k rows of a 200-byte row; fewer, larger parts than chDB's 8 MiB default. */
export const defaultChunkBytes = 16 << 20;
/** A row longer than this (no newline in it) fails the insert rather than growing the buffer without end. */
const maxRowBytes = 64 << 20;

/** The body decoded as it arrives (Content-Encoding), or undefined for an encoding only the buffered path decodes. */
export function decodingStream(req: Readable, encoding: string | undefined): Readable | undefined {
  const enc = (encoding ?? '').trim().toLowerCase();
  if (enc === '' || enc === 'identity' || enc === 'none') return req;
  const decoder = enc === 'gzip' || enc === 'x-gzip' ? zlib.createGunzip() : enc === 'deflate' ? zlib.createInflate() : enc === 'br' ? zlib.createBrotliDecompress() : undefined;
  if (!decoder) return undefined;
  req.once('error', (err) => decoder.destroy(err));
  decoder.once('error', () => req.resume());
  return req.pipe(decoder);
}

export interface StreamedTotals {
  chunks: number;
  bytes: number;
  writtenRows: number;
  writtenBytes: number;
}

/**
 * Reads `source` to its end and inserts it chunk by chunk through `insertChunk`
 * (one INSERT each, in order, one at a time; the next chunk is gathered while
 * the previous one is inserted). Rejects with the first failure, after which
 * nothing more is inserted.
 */
export async function insertStream(
  source: AsyncIterable<Buffer | string>,
  insertChunk: (data: Buffer) => Promise<{ writtenRows: number; writtenBytes: number }>,
  chunkBytes = defaultChunkBytes,
): Promise<StreamedTotals> {
  const totals: StreamedTotals = { chunks: 0, bytes: 0, writtenRows: 0, writtenBytes: 0 };
  let pending: Promise<void> = Promise.resolve();
  let failed: unknown;
  const flush = async (data: Buffer): Promise<void> => {
    await pending;
    if (failed !== undefined) throw failed;
    pending = insertChunk(data).then(
      (r) => {
        totals.chunks++;
        totals.bytes += data.length;
        totals.writtenRows += r.writtenRows;
        totals.writtenBytes += r.writtenBytes;
      },
      (err: unknown) => {
        failed = err;
      },
    );
  };
  let acc: Buffer[] = [];
  let accBytes = 0;
  let lastNl = -1; // offset of the last '\n' in acc, as if concatenated
  try {
    for await (const piece of source) {
      const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
      if (chunk.length === 0) continue;
      const nl = chunk.lastIndexOf(0x0a);
      if (nl >= 0) lastNl = accBytes + nl;
      acc.push(chunk);
      accBytes += chunk.length;
      if (accBytes < chunkBytes) continue;
      if (lastNl < 0) {
        if (accBytes > maxRowBytes) throw httpError('BAD_ARGUMENTS', `a row of the streamed insert is longer than ${maxRowBytes} bytes (no newline in it)`);
        continue;
      }
      const whole = Buffer.concat(acc, accBytes);
      const tail = whole.subarray(lastNl + 1);
      await flush(whole.subarray(0, lastNl + 1));
      acc = tail.length > 0 ? [Buffer.from(tail)] : [];
      accBytes = tail.length;
      lastNl = -1;
    }
    if (accBytes > 0) await flush(Buffer.concat(acc, accBytes));
  } finally {
    // Never return while a chunk is still inserting: its connection is closed after us, and
    // closing a chDB connection under a running operation takes the engine down.
    await pending;
  }
  if (failed !== undefined) throw failed;
  return totals;
}
