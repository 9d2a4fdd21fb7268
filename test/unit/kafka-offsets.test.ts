/**
 * How far a consumer group is from a topic's ends. Validation's catch-up reads
 * the ends once and then polls the group's offsets while the topic keeps
 * growing: a partition the group has read past the ends read earlier has
 * nothing pending, and must not cancel out another partition's shortfall.
 */
import { describe, expect, it } from 'vitest';
import { behind } from '../../connectors/kafka/offsets.ts';

const ends = [
  { partition: 0, low: 0n, high: 100n },
  { partition: 1, low: 40n, high: 60n },
];

describe('behind', () => {
  it('counts from the low watermark where the group committed nothing', () => {
    expect(behind(ends, new Map([[0, 90n]]))).toEqual({
      end: 160n,
      done: 130n,
      lag: 30n,
      pending: 30n,
      partitions: [
        { partition: 0, end: 100n, done: 90n, pending: 10n },
        { partition: 1, end: 60n, done: 40n, pending: 20n },
      ],
    });
  });

  it('a partition read past the old end has nothing pending; the other one still counts', () => {
    const r = behind(ends, new Map([[0, 130n], [1, 50n]]));
    expect(r.pending).toBe(10n);
    expect(r.lag).toBe(-20n); // the sums' difference: why the lag report prints `pending`
    expect(r.partitions.map((p) => p.pending)).toEqual([0n, 10n]);
  });

  it('drained: nothing pending', () => {
    expect(behind(ends, new Map([[0, 100n], [1, 75n]])).pending).toBe(0n);
  });
});
