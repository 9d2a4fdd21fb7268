import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { crewAt, personName } from '../../simulator/crew.ts';
import { createSimulator } from '../../simulator/server.ts';

describe('simulator crews', () => {
  it('are deterministic for a seed and step', () => {
    expect(crewAt(3, 50, 17)).toEqual(crewAt(3, 50, 17));
    expect(crewAt(3, 50, 17)).not.toEqual(crewAt(4, 50, 17));
  });

  it('never seat the same person twice, even at 100,000 people', () => {
    const crew = crewAt(1, 100_000, 12);
    expect(crew).toHaveLength(100_000);
    expect(new Set(crew.map((p) => p.name)).size).toBe(100_000);
  });

  it('gives different person numbers different names', () => {
    const names = new Set(Array.from({ length: 5_000 }, (_, i) => personName(i, 9)));
    expect(names.size).toBe(5_000);
  });

  it('rotate over time: arrivals, departures, craft changes and returns all happen', () => {
    const seed = 1;
    const size = 10;
    const seen = new Map<string, number>(); // name -> last step present
    let departures = 0;
    let arrivals = 0;
    let craftChanges = 0;
    let returns = 0;
    let previous = new Map(crewAt(seed, size, 0).map((p) => [p.name, p.craft]));
    for (const name of previous.keys()) seen.set(name, 0);
    for (let step = 1; step <= 40; step++) {
      const current = new Map(crewAt(seed, size, step).map((p) => [p.name, p.craft]));
      for (const [name, craft] of current) {
        if (!previous.has(name)) {
          arrivals += 1;
          if (seen.has(name)) returns += 1;
        } else if (previous.get(name) !== craft) craftChanges += 1;
        seen.set(name, step);
      }
      for (const name of previous.keys()) if (!current.has(name)) departures += 1;
      previous = current;
    }
    expect(arrivals).toBeGreaterThan(0);
    expect(departures).toBeGreaterThan(0);
    expect(craftChanges).toBeGreaterThan(0);
    expect(returns).toBeGreaterThan(0);
  });
});

describe('simulator server', () => {
  it('serves the open-notify shape, isolates scenarios and applies scripted faults in order', async () => {
    const server = createSimulator({ seed: 1, size: 3, stepSeconds: 0 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const feed = (await (await fetch(`${base}/astros.json`)).json()) as { message: string; number: number; people: unknown[] };
      expect(feed.message).toBe('success');
      expect(feed.number).toBe(3);
      expect(feed.people).toHaveLength(3);

      const post = await fetch(`${base}/s/a/control`, {
        method: 'POST',
        body: JSON.stringify({ crew: [{ name: 'X Y', craft: 'ISS' }], number: 4, faults: { http5xx: { count: 1 }, invalidRecords: { count: 1, records: 2 } } }),
      });
      expect(post.status).toBe(200);
      expect((await fetch(`${base}/s/a/astros.json`)).status).toBe(503);
      const faulty = (await (await fetch(`${base}/s/a/astros.json`)).json()) as { number: number; people: unknown[] };
      expect(faulty.number).toBe(4);
      expect(faulty.people).toHaveLength(3);
      const clean = (await (await fetch(`${base}/s/a/astros.json`)).json()) as { people: unknown[] };
      expect(clean.people).toEqual([{ name: 'X Y', craft: 'ISS' }]);
      // The default scenario was not affected.
      expect(((await (await fetch(`${base}/astros.json`)).json()) as { people: unknown[] }).people).toHaveLength(3);

      const state = (await (await fetch(`${base}/s/a/control/state`)).json()) as { requests: number; served: Record<string, number> };
      expect(state.requests).toBe(3);
      expect(state.served).toEqual({ '503': 1, invalidRecords: 1, '200': 2 });

      const bad = await fetch(`${base}/control`, { method: 'POST', body: JSON.stringify({ size: 100_001 }) });
      expect(bad.status).toBe(400);
      expect((await fetch(`${base}/s/a`, { method: 'DELETE' })).status).toBe(200);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
