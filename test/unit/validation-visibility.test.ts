import { describe, expect, it } from 'vitest';
import { parsePgSnapshot, setAsideInvisible, visibleInSnapshot, widenXid } from '../../activities/validation/visibility.ts';

describe('transaction visibility in a validation snapshot', () => {
  const s = parsePgSnapshot('1000:1010:1003,1007');

  it('parses pg_current_snapshot text, with and without in-progress ids', () => {
    expect(s).toEqual({ xmin: 1000n, xmax: 1010n, xip: new Set([1003n, 1007n]) });
    expect(parsePgSnapshot('5:5:').xip.size).toBe(0);
    expect(() => parsePgSnapshot('garbage')).toThrow(/not a pg_snapshot/);
  });

  it('sees transactions committed before it, not the ones in progress or started after', () => {
    expect(visibleInSnapshot(999n, s)).toBe(true);
    expect(visibleInSnapshot(1002n, s)).toBe(true);
    expect(visibleInSnapshot(1003n, s)).toBe(false);
    expect(visibleInSnapshot(1007n, s)).toBe(false);
    expect(visibleInSnapshot(1010n, s)).toBe(false);
    expect(visibleInSnapshot(1500n, s)).toBe(false);
  });

  it('widens 32-bit ids across an epoch boundary', () => {
    const e = 1n << 32n;
    const wrapped = parsePgSnapshot(`${e - 5n}:${e + 3n}:${e + 1n}`);
    expect(widenXid(4294967294n, wrapped)).toBe(e - 2n);
    expect(widenXid(1n, wrapped)).toBe(e + 1n);
    expect(widenXid(9n, wrapped)).toBe(e + 9n);
    expect(visibleInSnapshot(4294967294n, wrapped)).toBe(true);
    expect(visibleInSnapshot(1n, wrapped)).toBe(false);
    expect(visibleInSnapshot(2n, wrapped)).toBe(true);
  });

  it('sets aside only differences whose transaction is known and invisible', () => {
    const diffs = [{ version: '10' }, { version: '11' }, { version: '12' }, {}];
    const txOf = new Map([
      ['10', 1001n],
      ['11', 1007n],
    ]);
    const r = setAsideInvisible(diffs, txOf, s);
    expect(r.setAside).toBe(1);
    expect(r.kept).toEqual([{ version: '10' }, { version: '12' }, {}]);
  });
});
