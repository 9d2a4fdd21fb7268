import { describe, expect, it } from 'vitest';
import { insertStream, isLineFormat } from '../../stack/clickhouse/stream-insert.ts';

async function* pieces(...parts: string[]): AsyncIterable<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

describe('streamed inserts (stack/clickhouse/stream-insert.ts)', () => {
  it('streams line formats only', () => {
    expect(['TSV', 'TabSeparated', 'JSONEachRow', 'JSONCompactEachRow'].every(isLineFormat)).toBe(true);
    expect(['CSV', 'CSVWithNames', 'TSVWithNames', 'Native', 'RowBinary', undefined].some(isLineFormat)).toBe(false);
  });

  it('cuts chunks only after a newline, in order, every byte once', async () => {
    const chunks: string[] = [];
    const t = await insertStream(pieces('a\tb\nc', '\td\ne\tf', '\ng\th\n', 'i\tj'), async (data) => {
      chunks.push(data.toString());
      return { writtenRows: data.toString().split('\n').filter(Boolean).length, writtenBytes: data.length };
    }, 8);
    expect(chunks.every((c, i) => i === chunks.length - 1 || c.endsWith('\n'))).toBe(true);
    expect(chunks.join('')).toBe('a\tb\nc\td\ne\tf\ng\th\ni\tj');
    expect(t.writtenRows).toBe(5);
    expect(t.chunks).toBe(chunks.length);
  });

  it('stops at the first failed chunk, after the chunk in flight has finished', async () => {
    let running = 0;
    const calls: string[] = [];
    const done = insertStream(pieces('1\n', '2\n', '3\n', '4\n'), async (data) => {
      running++;
      calls.push(data.toString());
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (data.toString() === '2\n') throw new Error('chunk 2 failed');
      return { writtenRows: 1, writtenBytes: data.length };
    }, 1);
    await expect(done).rejects.toThrow('chunk 2 failed');
    expect(running).toBe(0);
    expect(calls).toEqual(['1\n', '2\n']);
  });
});
