import { describe, expect, it } from 'vitest';
import { snapshotConnector, snapshotNames } from '../../bench/lib/load-debezium.ts';
import { resyncTarget } from '../../bench/lib/load-ours.ts';
import { loadMark } from '../../bench/lib/load-table.ts';
import { loadReport } from '../../bench/lib/load.ts';
import { memoryPeak } from '../../bench/lib/memory.ts';
import { loadNames } from '../../bench/lib/objects.ts';
import { parseStat, processTree, type ProcStat } from '../../bench/lib/proc.ts';
import { phaseEvents, resyncPhases, type PhaseEvent } from '../../bench/lib/resync-phases.ts';
import { spread } from '../../bench/lib/stats.ts';
import { readConnectorFile } from '../../catalog/connector.ts';

describe('the load scenario', () => {
  it('reads ppid, CPU ticks and resident pages from a /proc stat line whose name has spaces and parentheses', () => {
    const line = '4242 (node (worker) x) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 11 0 139971 1234567 5120 18446744073709551615';
    expect(parseStat(line)).toEqual({ ppid: 17, ticks: 310, ownTicks: 300, rssPages: 5120 });
  });

  it('walks a process tree from its root', () => {
    const p = (ppid: number): ProcStat => ({ ppid, ticks: 0, ownTicks: 0, rssPages: 0 });
    const procs = new Map([[10, p(1)], [11, p(10)], [12, p(11)], [13, p(1)], [14, p(10)]]);
    expect(processTree(procs, 10).sort()).toEqual([10, 11, 12, 14]);
    expect(processTree(procs, 99)).toEqual([]);
  });

  it('peak memory: the largest one-sample sum of whole components and growths, never a sum of peaks at different moments', () => {
    const samples = [
      { worker: 300, clickhouse: 400 },
      { worker: 350, clickhouse: 420 },
      { worker: 310, clickhouse: 700 },
      { worker: 305, clickhouse: 380 },
    ];
    const m = memoryPeak(samples, { absolute: ['worker'], growth: ['clickhouse'] });
    expect(m.peakMiB).toBe(610);
    expect(m.components).toEqual({ worker: { startMiB: 300, peakMiB: 350 }, clickhouse: { startMiB: 400, peakMiB: 700 } });
    // Shrinking below the start is no negative use.
    expect(memoryPeak([{ clickhouse: 500 }, { clickhouse: 450 }], { absolute: [], growth: ['clickhouse'] }).peakMiB).toBe(0);
  });

  it("resync's phases from its history: spans first scheduled -> last completed, run times summed", () => {
    const ev: PhaseEvent[] = [
      { id: 1, ms: 1000 },
      { id: 5, ms: 1010, scheduled: 'prepareResync' },
      { id: 6, ms: 1020, started: 5 },
      { id: 7, ms: 1100, completed: 5 },
      { id: 10, ms: 1110, scheduled: 'loadResyncRange' },
      { id: 11, ms: 1110, scheduled: 'loadResyncRange' },
      { id: 12, ms: 1120, started: 10 },
      { id: 13, ms: 1130, started: 11 },
      { id: 14, ms: 2120, completed: 10 },
      { id: 15, ms: 2130, scheduled: 'loadResyncRange' },
      { id: 16, ms: 2140, started: 15 },
      { id: 17, ms: 2630, completed: 11 },
      { id: 18, ms: 3140, completed: 15 },
      { id: 20, ms: 3150, scheduled: 'swapResync' },
      { id: 21, ms: 3160, started: 20 },
      { id: 22, ms: 4150, completed: 20 },
      { id: 30, ms: 4300 },
    ];
    const p = resyncPhases(ev);
    expect(p.prepareResync).toEqual({ spanMs: 90, busyMs: 80, count: 1 });
    expect(p.loadResyncRange).toEqual({ spanMs: 2030, busyMs: 1000 + 1500 + 1000, count: 3 });
    expect(p.swapResync).toEqual({ spanMs: 1000, busyMs: 990, count: 1 });
    expect(p.completeResync).toBeUndefined();
    expect(p.workflowMs).toBe(3300);
  });

  it("reduces the proto history's events (int64 fields as Long-like objects)", () => {
    const long = (n: number) => ({ toString: () => String(n) });
    const events = phaseEvents({
      events: [
        { eventId: long(5) as never, eventTime: { seconds: long(1_700_000_000) as never, nanos: 250_000_000 }, activityTaskScheduledEventAttributes: { activityType: { name: 'swapResync' } } },
        { eventId: long(7) as never, eventTime: { seconds: long(1_700_000_001) as never, nanos: 0 }, activityTaskCompletedEventAttributes: { scheduledEventId: long(5) as never } },
      ],
    });
    expect(events).toEqual([
      { id: 5, ms: 1_700_000_000_250, scheduled: 'swapResync' },
      { id: 7, ms: 1_700_000_001_000, completed: 5 },
    ]);
  });

  it("gives resync the bench's own declaration, names and slot (never the live catalog's)", () => {
    expect(resyncTarget).toMatchObject({ declaration: { source: 'public.bench_load' }, names: { database: 'bench', topicPrefix: 'bench' }, slot: 'bench_debezium' });
    expect(loadNames).toMatchObject({ current: 'bench.bench_load', topic: 'bench.public.bench_load', group: 'astros-bench-load' });
    expect(loadMark(1000)).toMatch(/^bench load table [0-9a-f]{12}: 1000 rows$/);
  });

  it("snapshot connector: the production connector with its own identity and bench_load's table list, snapshotting first", () => {
    const prod = readConnectorFile().config;
    const c = snapshotConnector({ 'snapshot.fetch.size': '20000' });
    expect(c.name).toBe('bench-snapshot');
    const differ = [...new Set([...Object.keys(prod), ...Object.keys(c.config)])].filter((k) => prod[k] !== c.config[k]).sort();
    expect(differ).toEqual(['heartbeat.action.query', 'publication.name', 'slot.name', 'snapshot.fetch.size', 'table.include.list', 'topic.prefix']);
    expect(c.config).toMatchObject({ 'snapshot.mode': 'initial', 'slot.name': 'bench_snapshot', 'topic.prefix': 'bench_snapshot', 'table.include.list': 'public.bench_load' });
    expect(snapshotNames).toMatchObject({ database: 'bench_snapshot', current: 'bench_snapshot.bench_load', topic: 'bench_snapshot.public.bench_load', group: 'astros-snapshot-bench-load' });
  });

  it('reports medians with ratios of ours to each other contender', () => {
    const summary = Object.fromEntries(
      Object.entries({
        'load.ours.rowsPerSec': [100, 120, 110],
        'load.debezium.rowsPerSec': [20, 22, 21],
        'load.matpg.rowsPerSec': [200, 220, 210],
        'load.ours.loadRowsPerSec': [150, 150, 150],
      }).map(([k, xs]) => [k, spread(xs)]),
    );
    const lines = loadReport(summary, { rows: 1000 });
    expect(lines[2]).toBe('| rows/s | **110** (100–120) | **21.0** (20.0–22.0) | **210** (200–220) | 0.52× | 5.24× |');
    expect(lines.find((l) => l.startsWith('| rows/s, ours: its load phase'))).toContain('| **150** (150–150) | **21.0** (20.0–22.0) | **210** (200–220) | 0.71× | 7.14× |');
    expect(lines.find((l) => l.startsWith('| MiB peak memory'))).toBe('| MiB peak memory (resident, see below) | — | — | — | — | — |');
    expect(loadReport({}, { rows: 1000 })).toEqual([]);
  });
});
