import { describe, expect, it } from 'vitest';
import { groupsMetrics, groupsReport, limitNote } from '../../bench/lib/groups-report.ts';
import type { GroupsResult } from '../../bench/lib/groups.ts';
import { spread, type Summary } from '../../bench/lib/stats.ts';

const zero = { connect: 0, clickhouse: 0, kafka: 0, postgres: 0, other: 0, total: 0 };

/** A run's result: `changes` changes over `seconds`, the given gross µs of CPU per change (net the same). */
function result(changesPerSec: number, gross: Partial<typeof zero>, changes = 100_000): GroupsResult {
  const g = { ...zero, ...gross };
  g.total = g.connect + g.clickhouse + g.kafka + g.postgres + g.other;
  return {
    changes,
    commitMs: 1000,
    visibleMs: (changes / changesPerSec) * 1000,
    changesPerSec,
    drainAfterCommitMs: 500,
    stateOk: true,
    cpu: { changes, seconds: changes / changesPerSec, gross: g, net: g },
    connectors: [],
  };
}

function summaryOf(one: GroupsResult, two: GroupsResult): Summary {
  const m: Record<string, number> = {};
  groupsMetrics(m, 'oneGroup', one);
  groupsMetrics(m, 'twoGroups', two);
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, spread([v])]));
}

describe('bench groups report', () => {
  it('prints both configurations, the ratio, and names the busiest component of a saturated box as the limit', () => {
    // Two groups: 20k changes/s; Connect 60 µs per change = 1.2 cores, ClickHouse 0.4 cores.
    const s = summaryOf(result(16_000, { connect: 70, clickhouse: 20 }), result(20_000, { connect: 60, clickhouse: 20 }));
    const lines = groupsReport(s, 2, 1.5);
    expect(lines.find((l) => l.startsWith('| two groups / one group'))).toContain('1.25×');
    const note = limitNote(s, 2, 1.5)!;
    expect(note).toContain('1.60 of 2 cores');
    expect(note).toContain('the box is saturated, so a second slot and connector only share the same cores: Kafka Connect uses the most of them (75 %) and is the limit');
  });

  it('counts other work on a shared box (load average) as saturation, and says the box is not saturated otherwise', () => {
    const s = summaryOf(result(5_000, { connect: 100 }), result(8_000, { clickhouse: 50, connect: 20 }));
    expect(limitNote(s, 2, 6)).toContain('saturated (by other work beside the stack)');
    expect(limitNote(s, 2, 0.5)).toContain('the box is not saturated; the busiest component is ClickHouse (chDB host) (0.40 cores)');
  });

  it('prints nothing when the scenario did not run', () => {
    expect(groupsReport({}, 2, 1)).toEqual([]);
  });
});
