/**
 * The fetch and validate activities in a mock activity context, against the
 * simulator served in-process on a random port and a fake pool (the staging
 * queries only). Postgres behaviour itself is covered by the integration test.
 */
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IngestErrorType } from '../../shared/errors.ts';
import { createIngestActivities } from '../../activities/ingest.ts';
import type { ActivityDeps } from '../../activities/deps.ts';
import type { StagedPayload } from '../../activities/ingest-store.ts';
import { createSimulator } from '../../simulator/server.ts';

/** Just enough of pg.Pool for stagePayload / loadPayload / rejectPayload. */
class FakePool {
  bodies = new Map<string, Buffer>();
  rejects: unknown[][] = [];
  async query(sql: string, params: unknown[] = []): Promise<{ rows: unknown[] }> {
    if (sql.includes('insert into ingest_payloads')) {
      this.bodies.set(params[0] as string, params[2] as Buffer);
      return { rows: [{ fetched_at: new Date('2025-01-01T00:00:00Z') }] };
    }
    if (sql.includes('from ingest_payloads')) {
      const body = this.bodies.get(params[0] as string);
      const { createHash } = await import('node:crypto');
      return { rows: body ? [{ body, sha256: createHash('sha256').update(body).digest('hex') }] : [] };
    }
    if (sql.includes('insert into ingest_rejects')) {
      this.rejects.push(params);
      return { rows: [] };
    }
    throw new Error(`unexpected query: ${sql}`);
  }
}

let server: http.Server;
let base: string;
let pool: FakePool;
let scenario = 0;

async function control(body: unknown): Promise<void> {
  const res = await fetch(`${base}/control`, { method: 'POST', body: JSON.stringify(body) });
  if (!res.ok) throw new Error(await res.text());
}

function activities(overrides: Partial<ActivityDeps['source']> = {}) {
  return createIngestActivities({
    pool: pool as unknown as pg.Pool,
    source: {
      url: `${base}/astros.json`,
      connectTimeoutMs: 1_000,
      responseTimeoutMs: 500,
      retries: 2,
      retryMinDelayMs: 10,
      maxBodyBytes: 1024 * 1024,
      maxPeople: 1000,
      ...overrides,
    },
  });
}

/** Run an activity in a fresh mock context (typed: MockActivityEnvironment.run does not infer the result). */
function run<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, ...args) as Promise<R>;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  server = createSimulator({ seed: 7, size: 5, stepSeconds: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  pool = new FakePool();
  // A fresh simulator scenario per test: no fault left over from another test.
  scenario += 1;
  base = base.replace(/\/s\/.*$/, '') + `/s/unit${scenario}`;
});

describe('fetchAstronauts', () => {
  it('fetches, stages the body and heartbeats', async () => {
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const result = (await env.run(activities().fetchAstronauts, { payloadId: 'p1' })) as Awaited<ReturnType<ReturnType<typeof activities>['fetchAstronauts']>>;
    expect(result.httpAttempts).toBe(1);
    expect(result.bytes).toBe(pool.bodies.get('p1')?.length);
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(pool.bodies.get('p1')?.toString() ?? '').people).toHaveLength(5);
    expect(beats.length).toBeGreaterThan(0);
  });

  it('retries a 5xx burst inside the activity and reports the retries', async () => {
    await control({ faults: { http5xx: { count: 2, status: 502 } } });
    const result = await run(activities().fetchAstronauts, { payloadId: 'p2' });
    expect(result.httpAttempts).toBe(3);
    expect(result.retriedErrors).toEqual(['attempt 1: HTTP 502 Bad Gateway', 'attempt 2: HTTP 502 Bad Gateway']);
  });

  it('throws a plain (Temporal-retryable) error when the burst outlasts the in-activity retries', async () => {
    await control({ faults: { http5xx: { count: 5 } } });
    const err = await rejection(run(activities({ retries: 1 }).fetchAstronauts, { payloadId: 'p3' }));
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect((err as Error).message).toMatch(/failed after 2 attempt\(s\): attempt 1: HTTP 503.*attempt 2: HTTP 503/);
    expect(pool.bodies.size).toBe(0);
  });

  it('retries a response slower than the response timeout', async () => {
    await control({ faults: { slow: { count: 1, ms: 1_500 } } });
    const result = await run(activities().fetchAstronauts, { payloadId: 'p4' });
    expect(result.httpAttempts).toBe(2);
    expect(result.retriedErrors[0]).toMatch(/ETIMEDOUT: Timeout awaiting '(response|socket)' for 500ms/);
  });

  it('retries a connection reset', async () => {
    await control({ faults: { reset: { count: 1 } } });
    const result = await run(activities().fetchAstronauts, { payloadId: 'p5' });
    expect(result.httpAttempts).toBe(2);
    expect(result.retriedErrors[0]).toMatch(/ECONNRESET|socket hang up/);
  });

  it('does not retry a 4xx: non-retryable SourceClientError', async () => {
    const err = await rejection(
      run(activities().fetchAstronauts, { payloadId: 'p6', sourceUrl: `${base}/no-such-route` }),
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(IngestErrorType.SourceClientError);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
  });

  it('bounds the body size: non-retryable PayloadTooLarge', async () => {
    await control({ size: 2_000 });
    const err = await rejection(run(activities({ maxBodyBytes: 4_096 }).fetchAstronauts, { payloadId: 'p7' }));
    expect((err as ApplicationFailure).type).toBe(IngestErrorType.PayloadTooLarge);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
  });

  it('refuses a source URL that is not http(s)', async () => {
    const err = await rejection(run(activities().fetchAstronauts, { payloadId: 'p8', sourceUrl: 'file:///etc/passwd' }));
    expect((err as ApplicationFailure).type).toBe(IngestErrorType.InvalidInput);
  });
});

describe('validateAstronauts', () => {
  async function staged(body: string): Promise<StagedPayload> {
    const { createHash } = await import('node:crypto');
    const buf = Buffer.from(body);
    pool.bodies.set('v', buf);
    return { payloadId: 'v', sourceUrl: 'http://x', bytes: buf.length, sha256: createHash('sha256').update(buf).digest('hex'), fetchedAt: '2025-01-01T00:00:00.000Z' };
  }

  it('counts valid, invalid and duplicate records and reports a number mismatch', async () => {
    const payload = await staged(
      JSON.stringify({
        message: 'success',
        number: 9,
        people: [{ name: 'A B', craft: 'ISS' }, { name: '', craft: 'ISS' }, { name: 'a  b', craft: 'ISS' }, { name: 'C D', craft: 'Tiangong' }],
      }),
    );
    const r = await run(activities().validateAstronauts, { runKey: 'r1', payload });
    expect(r).toMatchObject({ fetched: 4, declaredNumber: 9, numberMismatch: true, valid: 2, invalid: 1, duplicates: 1 });
    expect(r.sampleReasons).toHaveLength(2);
  });

  it('dead-letters a malformed payload once and fails non-retryably', async () => {
    const payload = await staged('{"message": "succ');
    const err = await rejection(run(activities().validateAstronauts, { runKey: 'r2', payload }));
    expect((err as ApplicationFailure).type).toBe(IngestErrorType.MalformedPayload);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect(pool.rejects).toHaveLength(1);
    expect(pool.rejects[0]?.[0]).toBe('r2');
    expect(pool.rejects[0]?.[2]).toBe('{"message": "succ');
  });

  it('fails if the staged payload changed since the fetch', async () => {
    const payload = await staged('{}');
    pool.bodies.set('v', Buffer.from('{"tampered": true}'));
    const err = await rejection(run(activities().validateAstronauts, { runKey: 'r3', payload }));
    expect((err as ApplicationFailure).type).toBe(IngestErrorType.StagedPayloadMissing);
  });
});
