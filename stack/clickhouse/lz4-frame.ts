/**
 * Decoder for the LZ4 frame format (the `Content-Encoding: lz4` that
 * ClickHouse's HTTP interface accepts and clickhouse-connect sends by default
 * for inserts). Written from the public format description
 * (lz4_Frame_format.md / lz4_Block_format.md); checksums are skipped, not
 * verified (TCP and the engine's own parsing catch corruption well enough for
 * a loopback-only dev server). Node's zlib has no LZ4, and the npm binding
 * lz4-napi (2.10) decodes only the first of several concatenated frames,
 * while clickhouse-connect sends one frame per insert block.
 */

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

export class Lz4FrameError extends Error {
  override name = 'Lz4FrameError';
}

/** A growable output buffer; earlier output stays addressable for back-references. */
class Output {
  buf: Buffer;
  len = 0;
  constructor(initial: number) {
    this.buf = Buffer.allocUnsafe(Math.max(initial, 1024));
  }
  reserve(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}

function readLength(src: Buffer, pos: number, end: number, initial: number): [number, number] {
  let length = initial;
  if (initial === 15) {
    let b: number;
    do {
      if (pos >= end) throw new Lz4FrameError('truncated LZ4 length');
      b = src[pos++]!;
      length += b;
    } while (b === 255);
  }
  return [length, pos];
}

/** Decode one LZ4 block `src[start, end)` appending to `out`. `historyStart` bounds back-references. */
function decodeBlock(src: Buffer, start: number, end: number, out: Output, historyStart: number): void {
  let pos = start;
  while (pos < end) {
    const token = src[pos++]!;
    let literalLength: number;
    [literalLength, pos] = readLength(src, pos, end, token >>> 4);
    if (pos + literalLength > end) throw new Lz4FrameError('LZ4 literals run past the block end');
    out.reserve(literalLength);
    src.copy(out.buf, out.len, pos, pos + literalLength);
    out.len += literalLength;
    pos += literalLength;
    if (pos >= end) break; // the last sequence has literals only
    if (pos + 2 > end) throw new Lz4FrameError('truncated LZ4 match offset');
    const offset = src[pos]! | (src[pos + 1]! << 8);
    pos += 2;
    if (offset === 0 || out.len - offset < historyStart) throw new Lz4FrameError('invalid LZ4 match offset');
    let matchLength: number;
    [matchLength, pos] = readLength(src, pos, end, token & 0x0f);
    matchLength += 4;
    out.reserve(matchLength);
    const b = out.buf;
    let from = out.len - offset;
    if (offset >= matchLength) {
      b.copy(b, out.len, from, from + matchLength);
      out.len += matchLength;
    } else {
      // Overlapping copy: byte by byte repeats the pattern, as the format intends.
      for (let i = 0; i < matchLength; i++) b[out.len++] = b[from++]!;
    }
  }
}

/** Decompress one or more concatenated LZ4 frames (skippable frames are ignored). */
export function decompressLz4Frames(src: Buffer): Buffer {
  const out = new Output(src.length * 3);
  let pos = 0;
  while (pos < src.length) {
    if (pos + 4 > src.length) throw new Lz4FrameError('truncated LZ4 frame header');
    const magic = src.readUInt32LE(pos);
    pos += 4;
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      const size = src.readUInt32LE(pos);
      pos += 4 + size;
      continue;
    }
    if (magic !== FRAME_MAGIC) throw new Lz4FrameError(`not an LZ4 frame (magic 0x${magic.toString(16)})`);
    const flg = src[pos++]!;
    pos++; // BD: block maximum size, not needed since the output grows
    if (flg >>> 6 !== 1) throw new Lz4FrameError('unsupported LZ4 frame version');
    const independent = (flg & 0x20) !== 0;
    const blockChecksum = (flg & 0x10) !== 0;
    const contentSize = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    const dictId = (flg & 0x01) !== 0;
    if (dictId) throw new Lz4FrameError('LZ4 frames with a dictionary are not supported');
    if (contentSize) pos += 8;
    pos++; // header checksum
    const frameStart = out.len;
    for (;;) {
      if (pos + 4 > src.length) throw new Lz4FrameError('truncated LZ4 block header');
      const word = src.readUInt32LE(pos);
      pos += 4;
      if (word === 0) break; // EndMark
      const size = word & 0x7fffffff;
      if (pos + size > src.length) throw new Lz4FrameError('truncated LZ4 block');
      if ((word & 0x80000000) !== 0) {
        out.reserve(size);
        src.copy(out.buf, out.len, pos, pos + size);
        out.len += size;
      } else {
        decodeBlock(src, pos, pos + size, out, independent ? out.len : frameStart);
      }
      pos += size;
      if (blockChecksum) pos += 4;
    }
    if (contentChecksum) pos += 4;
  }
  return out.buf.subarray(0, out.len);
}
