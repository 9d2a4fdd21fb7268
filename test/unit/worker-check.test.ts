/**
 * The pure half of cli/worker-check.ts: when does a listed poller count as a
 * worker that polls now, and what do the messages say. (The I/O half runs
 * against a real server in test/integration/cli-worker-check.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { judgePollers, noWorkerMessage, POLLER_RECENT_MS, temporalDownMessage, type Poller, type QueuePollers } from '../../cli/worker-check.ts';
import { formatAge } from '../../shared/duration.ts';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const polled = (identity: string, agoMs: number | undefined): Poller => ({ identity, lastAccessMs: agoMs === undefined ? undefined : NOW - agoMs });
const both = (...pollers: Poller[]): QueuePollers => ({ workflow: pollers, activity: pollers });
const target = { address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'astros-ingest' };

describe('judgePollers', () => {
  it('no pollers at all: no worker, nobody seen', () => {
    expect(judgePollers({ workflow: [], activity: [] }, NOW)).toEqual({ ok: false, missing: 'worker', lastSeen: undefined });
  });

  it('a worker that polled just now serves the queue; identities once each', () => {
    expect(judgePollers(both(polled('1@a', 1_000), polled('1@a', 2_000), polled('2@b', 3_000)), NOW)).toEqual({ ok: true, workers: ['1@a', '2@b'] });
  });

  it('an idle live worker renews its entry once per long poll (~60 s): still a worker', () => {
    expect(judgePollers(both(polled('1@a', 58_000)), NOW).ok).toBe(true);
    expect(judgePollers(both(polled('1@a', POLLER_RECENT_MS)), NOW).ok).toBe(true);
  });

  it('a listed poller whose last access is older than the window is a stopped worker, not a worker', () => {
    const verdict = judgePollers(both(polled('1@a', POLLER_RECENT_MS + 1)), NOW);
    expect(verdict).toEqual({ ok: false, missing: 'worker', lastSeen: { identity: '1@a', ageMs: POLLER_RECENT_MS + 1 } });
  });

  it('names the most recently seen of several stopped workers', () => {
    const verdict = judgePollers(both(polled('old@a', 290_000), polled('newer@b', 120_000), polled('unknown@c', undefined)), NOW);
    expect(verdict).toMatchObject({ ok: false, lastSeen: { identity: 'newer@b', ageMs: 120_000 } });
  });

  it('a poller without an access time does not count', () => {
    expect(judgePollers(both(polled('1@a', undefined)), NOW)).toEqual({ ok: false, missing: 'worker', lastSeen: undefined });
  });

  it('an access time ahead of our clock (skew) counts as recent', () => {
    expect(judgePollers(both(polled('1@a', -5_000)), NOW).ok).toBe(true);
  });

  it('workflow pollers without activity pollers: the runs would start but never finish', () => {
    const verdict = judgePollers({ workflow: [polled('1@a', 1_000)], activity: [polled('0@old', 600_000)] }, NOW);
    expect(verdict).toEqual({ ok: false, missing: 'activity-worker', lastSeen: { identity: '0@old', ageMs: 600_000 } });
  });

  it('activity pollers alone are no worker either', () => {
    expect(judgePollers({ workflow: [], activity: [polled('1@a', 1_000)] }, NOW)).toMatchObject({ ok: false, missing: 'worker' });
  });
});

describe('messages', () => {
  it('no worker: names the task queue, the address, the namespace and how to start a worker', () => {
    const text = noWorkerMessage(target, { ok: false, missing: 'worker', lastSeen: undefined }, 'ingestAstronauts would never complete');
    expect(text).toMatch(/^no worker is polling task queue 'astros-ingest' on Temporal 127\.0\.0\.1:7233 \(namespace default\), so ingestAstronauts would never complete\./);
    expect(text).toContain('No worker has polled it in the last 90 s.');
    expect(text).toContain('npm run worker');
    expect(text).toContain('npm run stack -- up worker');
    expect(text).toContain('docker compose up -d worker');
    expect(text).toContain('then run this again');
    expect(text).not.toMatch(/\bat \S+:\d+:\d+/); // no stack frames
  });

  it('a stopped worker: says who polled last and how long ago', () => {
    const text = noWorkerMessage(target, { ok: false, missing: 'worker', lastSeen: { identity: '4242@host', ageMs: 300_000 } }, 'x');
    expect(text).toContain('The last worker seen there (4242@host) polled 5 min ago.');
  });

  it('no activity worker: says so', () => {
    const text = noWorkerMessage(target, { ok: false, missing: 'activity-worker', lastSeen: undefined }, 'validatePipeline would never complete');
    expect(text).toMatch(/^a worker polls workflow tasks but none polls activity tasks on task queue 'astros-ingest'/);
    expect(text).toContain('No activity worker has polled it');
  });

  it('as a warning (the command goes on) it does not ask to run the command again', () => {
    const text = noWorkerMessage(target, { ok: false, missing: 'worker', lastSeen: undefined }, 'the run waits until one does', '');
    expect(text).not.toContain('run this again');
    expect(text).toContain("Start a worker for task queue 'astros-ingest' on 127.0.0.1:7233:");
  });

  it('Temporal down: names the address, the reason and how to start it', () => {
    const text = temporalDownMessage({ address: '127.0.0.1:1' }, 'connection refused: nothing is listening there');
    expect(text).toBe(
      'Temporal is not answering at 127.0.0.1:1 (connection refused: nothing is listening there).\n' +
        'Start it with `npm run stack -- up temporal` (or the whole stack: `npm run stack -- up`), or point TEMPORAL_ADDRESS at a running server.',
    );
  });

  it('formats ages for people', () => {
    expect([400, 10_000, 119_000, 125_000, 300_000, 3 * 3_600_000, 5_400_000, -5].map(formatAge)).toEqual([
      '0 s',
      '10 s',
      '119 s',
      '2 min 5 s',
      '5 min',
      '3 h',
      '1 h 30 min',
      '0 s',
    ]);
  });
});
