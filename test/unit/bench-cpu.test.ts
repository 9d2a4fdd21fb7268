import { describe, expect, it } from 'vitest';
import { cpuDelta, describe as describeCpu, idleRate, perChange, type CpuSnapshot } from '../../bench/lib/cpu.ts';
import { jitPercent, jitTicksOf } from '../../bench/lib/jit.ts';

const snap = (atMs: number, us: Partial<CpuSnapshot['us']>): CpuSnapshot => ({
  atMs,
  us: { connect: 0, clickhouse: 0, kafka: 0, postgres: 0, other: 0, ...us },
});

describe('CPU per change', () => {
  it('subtracts the idle rate over the window and divides by the changes', () => {
    // Idle: Connect 0.1 s of CPU per second, the broker 0.05 s.
    const idle = idleRate(cpuDelta(snap(0, {}), snap(10_000, { connect: 1_000_000, kafka: 500_000 })));
    expect(idle.connect).toBe(100_000);
    // A 4 s window, 1000 changes: Connect used 2.4 s, the broker 0.2 s.
    const c = perChange(cpuDelta(snap(0, {}), snap(4_000, { connect: 2_400_000, kafka: 200_000 })), idle, 1000);
    expect(c.gross.connect).toBe(2400);
    expect(c.net.connect).toBe(2000);
    expect(c.net.kafka).toBe(0);
    expect(c.net.total).toBe(2000);
    expect(c.gross.total).toBe(2600);
    expect(describeCpu(c)).toContain('= 2000 µs net of idle (2600 gross)');
  });
});

describe('JIT compiler threads in the idle figures', () => {
  it('gives each JVM its compile threads\' share of one core over the window, largest first', () => {
    // 45 s window: Connect's compiler threads used 0.9 s, the broker's 0.45 s, the registry's nothing.
    const a = new Map([['connect', 10_000_000], ['kafka', 5_000_000], ['registry', 2_000_000]]);
    const b = new Map([['connect', 10_900_000], ['kafka', 5_450_000], ['registry', 2_000_000]]);
    expect(jitPercent(a, b, 45_000)).toEqual([['connect', 2], ['kafka', 1], ['registry', 0]]);
  });

  it('counts nothing for a process without HotSpot compiler threads or one that ended', () => {
    expect(jitTicksOf(process.pid)).toBe(0);
    expect(jitTicksOf(2 ** 22 + 1)).toBe(0);
  });
});
