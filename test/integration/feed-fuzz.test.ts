/**
 * Feed fuzzing against the real components (the unit layer runs the whole
 * 10,000-payload corpus: test/unit/feed-fuzz.test.ts). Here the same seeded
 * corpus (test/fuzz/feed-corpus.ts) meets real Postgres in a throw-away
 * schema, served by the stack's simulator:
 *
 *  1. 200 payloads through the real ingestAstronauts workflow (Temporal dev
 *     server, in-process worker): each run completes, or fails with a named
 *     permanent error and its reason, the whole payload dead-lettered;
 *  2. 1,000 more through the activities alone (fetch, checks, transform,
 *     apply), which is where the odd records meet Postgres' jsonb;
 *
 * and after each applied payload the table holds exactly the generator's good
 * people, and `ingest_rejects` every bad record with its reason (records
 * Postgres cannot hold as jsonb, with NUL or a lone surrogate, kept as escaped
 * text that parses back to what was received).
 */
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nonRetryableErrorTypes } from '../../shared/errors.ts';
import { createIngestActivities } from '../../activities/ingest.ts';
import { createPool } from '../../connectors/postgres/pool.ts';
import { rootCause } from '../../cli/astros.ts';
import { migrate } from '../../connectors/postgres/migrate.ts';
import { INGEST_WORKFLOW_TYPE, type IngestAstronautsInput, type IngestSummary } from '../../shared/workflows.ts';
import { checkOutcome, corpusLimits, feedCorpus, feedFigures, serveRaw, type FeedCase, type FeedOutcome } from '../fuzz/feed-corpus.ts';
import { requireEnv, uniqueTag } from './helpers.ts';

const SEED = 20_240_229;
const WORKFLOW_RUNS = 200;
const ACTIVITY_RUNS = 1_000;
const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const LANES = 4;
let databaseUrl: string;
let simulatorUrl: string;
let nativeConnection: NativeConnection;
let connection: Connection;

interface RejectRow {
  record_index: number | null;
  reason: string;
  /** SQL NULL in both: the record kept nowhere (a jsonb `null` record is kept). */
  empty: boolean;
}

const sortC = (keys: string[]) => [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

const figures = { tried: 0, crashes: [] as string[], rejected: 0, accepted: 0, failed: 0, problems: [] as string[] };

/**
 * One lane: its own schema, simulator scenario, task queue and worker. Runs
 * in a lane are sequential (each snapshot replaces the last, so the table is
 * exactly the last applied payload); lanes run side by side.
 */
class Lane {
  readonly schema = uniqueTag('fuzz');
  readonly taskQueue = `feed-fuzz-${this.schema}`;
  readonly scenarioUrl = `${simulatorUrl}/s/${this.schema}`;
  readonly pool = createPool(databaseUrl, { schema: this.schema, max: 2, application: 'astros-ingest' });
  readonly source = { url: `${this.scenarioUrl}/astros.json`, connectTimeoutMs: 2_000, responseTimeoutMs: 5_000, retries: 0, retryMinDelayMs: 10, ...corpusLimits };

  async observed(runKey: string): Promise<{ keys: string[]; rejects: RejectRow[] }> {
    const keys = await this.pool.query<{ person_key: string }>('select person_key from astronauts order by person_key collate "C"');
    const rejects = await this.pool.query<RejectRow>(
      'select record_index, reason, (record is null and raw_text is null) as empty from ingest_rejects where run_key = $1 order by record_index',
      [runKey],
    );
    return { keys: keys.rows.map((r) => r.person_key), rejects: rejects.rows };
  }

  /** Record one outcome, checked against the generator's expectation and against what Postgres holds. */
  async account(c: FeedCase, runKey: string, outcome: FeedOutcome): Promise<void> {
    figures.tried += 1;
    const { keys, rejects } = await this.observed(runKey);
    if ('failed' in outcome) {
      figures.failed += 1;
      // Dead-lettered as a whole (a body over the size bound is never read, so never stored).
      if (outcome.failed !== 'PayloadTooLarge' && (rejects.length !== 1 || rejects[0]?.record_index !== null || !rejects[0].reason.startsWith(outcome.failed))) {
        figures.problems.push(`case ${c.id}: the failed payload is not in ingest_rejects with its reason`);
      }
    } else {
      figures.accepted += keys.length;
      figures.rejected += rejects.length;
      outcome = { ...outcome, keys: sortC(keys), reasons: rejects.map((r) => r.reason) };
      if (rejects.length !== outcome.rejected) figures.problems.push(`case ${c.id}: ${outcome.rejected} rejected, ${rejects.length} kept`);
      for (const r of rejects) if (r.empty) figures.problems.push(`case ${c.id}: people[${r.record_index}] kept without its content`);
    }
    const expected = 'keys' in c.expect ? { ...c.expect, keys: sortC(c.expect.keys) } : c.expect;
    figures.problems.push(...checkOutcome({ ...c, expect: expected }, outcome));
  }

  async workflowRuns(cases: FeedCase[], client: Client, bundle: WorkflowBundleWithSourceMap): Promise<void> {
    await serveRaw(`${this.scenarioUrl}/control`, cases);
    const worker = await Worker.create({ connection: nativeConnection, taskQueue: this.taskQueue, workflowBundle: bundle, activities: createIngestActivities({ pool: this.pool, source: this.source }) });
    await worker.runUntil(async () => {
      for (const c of cases) {
        const workflowId = `${this.schema}-${c.id}`;
        let outcome: FeedOutcome;
        let runKey: string;
        try {
          const summary = await client.workflow.execute<(i?: IngestAstronautsInput) => Promise<IngestSummary>>(INGEST_WORKFLOW_TYPE, {
            taskQueue: this.taskQueue,
            workflowId,
            args: [{ validate: false }],
            workflowExecutionTimeout: '1 minute',
          });
          runKey = summary.runKey;
          outcome = { keys: [], rejected: summary.rejected, duplicates: summary.duplicates, reasons: [] };
        } catch (err) {
          const cause = err instanceof WorkflowFailedError ? innermost(err) : undefined;
          if (!(cause instanceof ApplicationFailure) || !cause.type || !nonRetryableErrorTypes.includes(cause.type)) {
            figures.crashes.push(`case ${c.id} (${c.kind}): ${err instanceof Error ? rootCause(err) : String(err)}`.slice(0, 400));
            continue;
          }
          runKey = (await client.workflow.getHandle(workflowId).describe()).runId;
          outcome = { failed: cause.type, message: cause.message };
        }
        await this.account(c, runKey, outcome);
      }
    });
  }

  async activityRuns(cases: FeedCase[]): Promise<void> {
    await serveRaw(`${this.scenarioUrl}/control`, cases);
    const acts = createIngestActivities({ pool: this.pool, source: this.source });
    for (const c of cases) {
      const runKey = `activities-${c.id}`;
      let outcome: FeedOutcome;
      try {
        const fetched = await acts.fetchAstronauts({ payloadId: runKey });
        await acts.validateAstronauts({ runKey, payload: fetched });
        const applied = await acts.upsertAstronauts({ runKey, workflowId: 'feed-fuzz', workflowRunId: runKey, payload: fetched, httpAttempts: 1 });
        outcome = { keys: [], rejected: applied.rejected, duplicates: applied.duplicates, reasons: [] };
      } catch (err) {
        if (!(err instanceof ApplicationFailure) || !err.type || !nonRetryableErrorTypes.includes(err.type)) {
          figures.crashes.push(`case ${c.id} (${c.kind}): ${err instanceof Error ? err.message : String(err)}`.slice(0, 400));
          continue;
        }
        outcome = { failed: err.type, message: err.message };
      }
      await this.account(c, runKey, outcome);
    }
  }

  async tearDown(): Promise<void> {
    await this.pool.end();
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`drop schema if exists "${this.schema}" cascade`).finally(() => admin.end());
    await fetch(this.scenarioUrl, { method: 'DELETE' }).catch(() => undefined);
  }
}

let lanes: Lane[] = [];

/** Cases dealt round-robin to the lanes, in corpus order within a lane. */
const deal = (cases: FeedCase[]) => lanes.map((_, i) => cases.filter((_, j) => j % LANES === i));

beforeAll(async () => {
  // The worker's own log lines (every reject is a WARN) would drown the figures.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  databaseUrl = requireEnv('DATABASE_URL');
  simulatorUrl = requireEnv('SIMULATOR_URL');
  lanes = Array.from({ length: LANES }, () => new Lane());
  for (const lane of lanes) await migrate({ databaseUrl, schema: lane.schema });
  const address = requireEnv('TEMPORAL_ADDRESS');
  nativeConnection = await NativeConnection.connect({ address });
  connection = await Connection.connect({ address });
});

afterAll(async () => {
  await connection?.close();
  await nativeConnection?.close();
  for (const lane of lanes) await lane.tearDown().catch(() => undefined);
});

describe('feed fuzzing into throw-away schemas', () => {
  const corpus = feedCorpus(SEED, WORKFLOW_RUNS + ACTIVITY_RUNS);

  it(`${WORKFLOW_RUNS} payloads through the real ingestAstronauts workflow, then ${ACTIVITY_RUNS} through its activities`, { timeout: 170_000 }, async () => {
    const t0 = Date.now();
    const bundle = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('../../workflows/index.ts', import.meta.url)), logger: quiet });
    const client = new Client({ connection });
    const byLane = deal(corpus.slice(0, WORKFLOW_RUNS));
    await Promise.all(lanes.map((lane, i) => lane.workflowRuns(byLane[i]!, client, bundle)));
    console.log(feedFigures('feed fuzz, ingestAstronauts workflow', SEED, figures.tried, figures.crashes.length, figures.rejected, figures.accepted, figures.failed));
    console.log(`  ${WORKFLOW_RUNS} workflow runs in ${((Date.now() - t0) / 1000).toFixed(1)} s (${LANES} lanes)`);

    const t1 = Date.now();
    const byLane2 = deal(corpus.slice(WORKFLOW_RUNS));
    await Promise.all(lanes.map((lane, i) => lane.activityRuns(byLane2[i]!)));
    console.log(feedFigures('feed fuzz, workflow + activities into Postgres', SEED, figures.tried, figures.crashes.length, figures.rejected, figures.accepted, figures.failed));
    console.log(`  ${ACTIVITY_RUNS} activity runs in ${((Date.now() - t1) / 1000).toFixed(1)} s`);

    expect(figures.crashes).toEqual([]);
    expect(figures.problems.slice(0, 20)).toEqual([]);
    expect(figures.tried).toBe(WORKFLOW_RUNS + ACTIVITY_RUNS);

    // Records jsonb cannot hold are dead-lettered as escaped text that parses back to what was received.
    const odd = (
      await Promise.all(
        lanes.map((lane) =>
          lane.pool.query<{ raw_text: string }>(
            `select raw_text from ingest_rejects where record_index is not null and record is null and not raw_truncated and raw_text ~ '\\\\u(0000|d[89ab])'`,
          ),
        ),
      )
    ).flatMap((r) => r.rows);
    expect(odd.length).toBeGreaterThan(0);
    for (const r of odd) expect(JSON.stringify(JSON.parse(r.raw_text))).toMatch(/\\u0000|\\ud[89ab]/);
  });
});

function innermost(err: Error): Error {
  let e = err;
  while (e.cause instanceof Error) e = e.cause;
  return e;
}
