/**
 * Feed fuzzing, unit level: 10,000 generated malformed payloads
 * (test/fuzz/feed-corpus.ts, fixed seed) served as raw HTTP responses by the
 * simulator in-process, through the real activities: fetchAstronauts (got),
 * validateAstronauts (payload checks), upsertAstronauts (transform + the
 * snapshot apply) against a recording pool that checks every value bound for
 * Postgres. No crash: each payload applies or fails with a named, permanent
 * error; the generator's good people are exactly what lands; every bad record
 * is rejected with a reason. The same corpus meets real Postgres and the real
 * workflow in test/integration/feed-fuzz.test.ts.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { nonRetryableErrorTypes } from '../../shared/errors.ts';
import { createIngestActivities } from '../../activities/ingest.ts';
import { createSimulator } from '../../simulator/server.ts';
import { checkOutcome, corpusLimits, feedCorpus, feedFigures, serveRaw, type FeedOutcome } from '../fuzz/feed-corpus.ts';
import { RecordingPool } from '../fuzz/recording-pool.ts';

const SEED = 20_240_229;
const COUNT = 10_000;

let server: http.Server;
let base: string;

beforeAll(async () => {
  server = createSimulator({ seed: 1, size: 3, stepSeconds: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/s/fuzz`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function run<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment(undefined, { logger: quiet }).run(fn, ...args) as Promise<R>;
}

it(`${COUNT} malformed payloads through fetch, payload checks, transform and the apply: no crash, every bad record rejected with a reason`, { timeout: 240_000 }, async () => {
  const corpus = feedCorpus(SEED, COUNT);
  const pool = new RecordingPool();
  const acts = createIngestActivities({
    pool: pool as unknown as pg.Pool,
    source: { url: `${base}/astros.json`, connectTimeoutMs: 2_000, responseTimeoutMs: 5_000, retries: 0, retryMinDelayMs: 10, ...corpusLimits },
  });
  const crashes: string[] = [];
  const problems: string[] = [];
  let rejected = 0;
  let accepted = 0;
  let failed = 0;
  for (let i = 0; i < corpus.length; i += 500) {
    const batch = corpus.slice(i, i + 500);
    await serveRaw(`${base}/control`, batch);
    for (const c of batch) {
      const runKey = `run-${c.id}`;
      let outcome: FeedOutcome;
      try {
        const fetched = await run(acts.fetchAstronauts, { payloadId: `p-${c.id}` });
        await run(acts.validateAstronauts, { runKey, payload: fetched });
        const applied = await run(acts.upsertAstronauts, { runKey, workflowId: 'fuzz', workflowRunId: runKey, payload: fetched, httpAttempts: 1 });
        const recorded = pool.applies.at(-1)!;
        if (applied.rejected !== recorded.rejects.length) problems.push(`case ${c.id}: summary says ${applied.rejected} rejected, ${recorded.rejects.length} kept`);
        outcome = { keys: recorded.keys, rejected: recorded.rejects.length, duplicates: applied.duplicates, reasons: recorded.rejects.map((r) => r.reason) };
        rejected += recorded.rejects.length;
        accepted += recorded.keys.length;
      } catch (err) {
        if (!(err instanceof ApplicationFailure) || !err.type || !nonRetryableErrorTypes.includes(err.type)) {
          crashes.push(`case ${c.id} (${c.kind}): ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`.slice(0, 400));
          continue;
        }
        failed += 1;
        outcome = { failed: err.type, message: err.message };
        // A payload that reached the checks is dead-lettered as a whole, with its reason.
        if (err.type !== 'PayloadTooLarge' && pool.payloadRejects.at(-1)?.reason.startsWith(err.type) !== true) problems.push(`case ${c.id}: not dead-lettered`);
      }
      problems.push(...checkOutcome(c, outcome));
    }
  }
  console.log(feedFigures('feed fuzz, activities (unit)', SEED, corpus.length, crashes.length, rejected, accepted, failed));
  expect(crashes).toEqual([]);
  expect(pool.problems.slice(0, 20)).toEqual([]);
  expect(problems.slice(0, 20)).toEqual([]);
  // The corpus exercises both sides.
  expect(rejected).toBeGreaterThan(COUNT);
  expect(accepted).toBeGreaterThan(COUNT);
  expect(failed).toBeGreaterThan(COUNT / 10);
});
