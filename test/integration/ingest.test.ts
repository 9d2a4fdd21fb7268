/**
 * ingestAstronauts against the real Temporal dev server, real Postgres and the
 * simulator (addresses from test/global-setup.ts: DATABASE_URL,
 * TEMPORAL_ADDRESS, SIMULATOR_URL; PG_SUPERUSER_URL enables the WAL checks).
 *
 * Every test gets its own Postgres schema (the same migrations, applied by the
 * runner), its own simulator scenario, task queue, workflow ids and in-process
 * Worker, and removes them afterwards. Row changes are observed twice: by a
 * trigger in the test schema, and - when a superuser URL is available - in the
 * WAL itself through a temporary logical decoding slot, i.e. exactly what
 * Debezium would receive.
 *
 * RECORD_FIXTURES=1 rewrites test/fixtures/ingest-astronauts-history.json from
 * the happy-path run (the history the replay unit test replays).
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Client, Connection, ScheduleOverlapPolicy, WorkflowFailedError } from '@temporalio/client';
import proto from '@temporalio/proto';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestErrorType } from '../../shared/errors.ts';
import { createIngestActivities } from '../../activities/ingest.ts';
import type { ActivityDeps } from '../../activities/deps.ts';
import { createPool } from '../../connectors/postgres/pool.ts';
import { deleteIngestSchedule, startOrAttachIngest, upsertIngestSchedule } from '../../cli/client.ts';
import { rootCause } from '../../cli/astros.ts';
import { migrate } from '../../connectors/postgres/migrate.ts';
import { INGEST_WORKFLOW_TYPE, type IngestAstronautsInput, type IngestSummary } from '../../shared/workflows.ts';
import { requireEnv, uniqueTag } from './helpers.ts';

const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));
const fixturePath = fileURLToPath(new URL('../fixtures/ingest-astronauts-history.json', import.meta.url));

let databaseUrl: string;
let simulatorUrl: string;
let superuserUrl: string | undefined;
let bundle: WorkflowBundleWithSourceMap;
let nativeConnection: NativeConnection;
let connection: Connection;
let client: Client;

interface Person {
  name: string;
  craft: string;
}

interface Change {
  op: string;
  person_key: string;
  old_craft: string | null;
  new_craft: string | null;
}

/** One test's own schema, simulator scenario, task queue and worker. */
class Case {
  readonly schema = uniqueTag('ingest');
  readonly scenario = this.schema;
  readonly taskQueue = `ingest-test-${this.schema}`;
  readonly pool: pg.Pool;
  readonly sourceUrl: string;
  private slot: pg.Client | undefined;
  private readonly slotName = `${this.schema}_slot`;

  constructor(readonly source: Partial<ActivityDeps['source']> = {}) {
    this.pool = createPool(databaseUrl, { schema: this.schema, max: 2, application: 'astros-ingest' });
    this.sourceUrl = `${simulatorUrl}/s/${this.scenario}/astros.json`;
  }

  async setUp(): Promise<this> {
    await migrate({ databaseUrl, schema: this.schema });
    // Test-only observer: one row per row change on astronauts.
    await this.pool.query(`
      create table change_log (id bigint generated always as identity, op text, person_key text, old_craft text, new_craft text);
      create function log_change() returns trigger language plpgsql as $$
      begin
        if tg_op = 'DELETE' then
          insert into change_log (op, person_key, old_craft) values (tg_op, old.person_key, old.craft);
        elsif tg_op = 'UPDATE' then
          insert into change_log (op, person_key, old_craft, new_craft) values (tg_op, new.person_key, old.craft, new.craft);
        else
          insert into change_log (op, person_key, new_craft) values (tg_op, new.person_key, new.craft);
        end if;
        return null;
      end $$;
      create trigger astronauts_change_log after insert or update or delete on astronauts
        for each row execute function log_change();`);
    return this;
  }

  async control(body: unknown): Promise<void> {
    const res = await fetch(`${simulatorUrl}/s/${this.scenario}/control`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`simulator control failed: ${await res.text()}`);
  }

  async crew(people: Person[]): Promise<void> {
    await this.control({ crew: people, clearFaults: true });
  }

  activities() {
    return createIngestActivities({
      pool: this.pool,
      source: {
        url: this.sourceUrl,
        connectTimeoutMs: 2_000,
        responseTimeoutMs: 1_000,
        retries: 1,
        retryMinDelayMs: 50,
        maxBodyBytes: 32 * 1024 * 1024,
        maxPeople: 200_000,
        ...this.source,
      },
    });
  }

  /** Run `fn` while an in-process worker serves this case's task queue. */
  async withWorker<T>(fn: () => Promise<T>): Promise<T> {
    const worker = await Worker.create({
      connection: nativeConnection,
      taskQueue: this.taskQueue,
      workflowBundle: bundle,
      activities: this.activities(),
    });
    return worker.runUntil(fn);
  }

  workflowId(label: string): string {
    return `${this.schema}-${label}`;
  }

  /** Without `input` the workflow is started with no arguments at all, as the Web UI does. */
  async ingest(label: string, input?: IngestAstronautsInput): Promise<IngestSummary> {
    return client.workflow.execute<(i?: IngestAstronautsInput) => Promise<IngestSummary>>(INGEST_WORKFLOW_TYPE, {
      taskQueue: this.taskQueue,
      workflowId: this.workflowId(label),
      args: input === undefined ? [] : [input],
    });
  }

  async changes(): Promise<Change[]> {
    const { rows } = await this.pool.query<Change & { id: string }>('select * from change_log order by id');
    await this.pool.query('truncate change_log');
    return rows.map(({ op, person_key, old_craft, new_craft }) => ({ op, person_key, old_craft, new_craft }));
  }

  async table(): Promise<Record<string, string>> {
    const { rows } = await this.pool.query<{ person_key: string; craft: string }>('select person_key, craft from astronauts order by person_key');
    return Object.fromEntries(rows.map((r) => [r.person_key, r.craft]));
  }

  /** Start watching the WAL (temporary logical slot, test_decoding); undefined without a superuser URL. */
  async watchWal(): Promise<boolean> {
    if (!superuserUrl) return false;
    this.slot = new pg.Client({ connectionString: superuserUrl.replace(/\/[^/]*$/, new URL(databaseUrl).pathname) });
    await this.slot.connect();
    await this.slot.query(`select pg_create_logical_replication_slot($1, 'test_decoding', true)`, [this.slotName]);
    return true;
  }

  /** The row changes on this schema's astronauts table decoded from the WAL since watchWal / the last call. */
  async walChanges(): Promise<string[]> {
    if (!this.slot) return [];
    const { rows } = await this.slot.query<{ data: string }>(`select data from pg_logical_slot_get_changes($1, null, null)`, [this.slotName]);
    const prefix = `table ${this.schema}.astronauts: `;
    return rows
      .map((r) => r.data)
      .filter((d) => d.startsWith(prefix))
      .map((d) => {
        const op = d.slice(prefix.length).split(':')[0] ?? '';
        const key = /person_key\[text\]:'([^']*)'/.exec(d)?.[1] ?? '?';
        return `${op} ${key}`;
      });
  }

  async tearDown(): Promise<void> {
    await this.slot?.end().catch(() => undefined); // temporary slot: dropped with the session
    await this.pool.end();
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    try {
      await admin.query(`drop schema if exists "${this.schema}" cascade`);
    } finally {
      await admin.end();
    }
    await fetch(`${simulatorUrl}/s/${this.scenario}`, { method: 'DELETE' }).catch(() => undefined);
  }
}

async function withCase<T>(fn: (c: Case) => Promise<T>, source: Partial<ActivityDeps['source']> = {}): Promise<T> {
  const c = await new Case(source).setUp();
  try {
    return await fn(c);
  } finally {
    await c.tearDown();
  }
}

async function failureOf(p: Promise<unknown>): Promise<WorkflowFailedError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof WorkflowFailedError) return err;
    throw err;
  }
  throw new Error('expected the workflow to fail');
}

/**
 * History as plain JSON (int64 and bytes as strings). Not historyToJSON from
 * @temporalio/common: with 1.24.0's nested protobufjs 8 it throws "type must
 * be a Type"; the replay test reads this back with History.fromObject.
 */
function historyToObject(history: proto.temporal.api.history.v1.IHistory): unknown {
  return proto.temporal.api.history.v1.History.toObject(history as proto.temporal.api.history.v1.History, { longs: String, enums: String, bytes: String });
}

/** Every payload in a history, decoded as text. */
function payloadTexts(value: unknown, out: string[] = []): string[] {
  if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) for (const v of value) payloadTexts(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) payloadTexts(v, out);
  return out;
}

const crew3: Person[] = [
  { name: 'Oleg Kononenko', craft: 'ISS' },
  { name: 'Jasmin Moghbeli', craft: 'ISS' },
  { name: 'Tang Hongbo', craft: 'Tiangong' },
];

beforeAll(async () => {
  databaseUrl = requireEnv('DATABASE_URL');
  simulatorUrl = requireEnv('SIMULATOR_URL');
  superuserUrl = process.env.PG_SUPERUSER_URL;
  const address = requireEnv('TEMPORAL_ADDRESS');
  bundle = await bundleWorkflowCode({ workflowsPath, logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } });
  nativeConnection = await NativeConnection.connect({ address });
  connection = await Connection.connect({ address });
  client = new Client({ connection });
});

afterAll(async () => {
  await connection?.close();
  await nativeConnection?.close();
});

describe('ingestAstronauts (real Temporal + Postgres + simulator)', () => {
  it('happy path (started with no input, as from the Web UI): fetches, validates, upserts and records the run', async () => {
    await withCase(async (c) => {
      await c.crew(crew3);
      const summary = await c.withWorker(() => c.ingest('happy'));
      expect(summary).toMatchObject({
        status: 'applied',
        fetched: 3,
        declaredNumber: 3,
        numberMismatch: false,
        inserted: 3,
        updated: 0,
        departed: 0,
        rejected: 0,
        httpAttempts: 1,
        sourceUrl: c.sourceUrl,
      });
      expect(summary.runKey).toBe(summary.runId);
      expect(await c.table()).toEqual({ 'jasmin moghbeli': 'ISS', 'oleg kononenko': 'ISS', 'tang hongbo': 'Tiangong' });
      const { rows } = await c.pool.query('select status, inserted, workflow_id from ingest_runs where run_key = $1', [summary.runId]);
      expect(rows).toEqual([{ status: 'applied', inserted: 3, workflow_id: c.workflowId('happy') }]);
      // Nothing big in workflow history: the people list stays in Postgres.
      const history = await client.workflow.getHandle(c.workflowId('happy')).fetchHistory();
      expect(payloadTexts(history).join('\n')).not.toContain('Kononenko');
      expect(payloadTexts(history).join('\n')).toContain('"inserted":3');
      if (process.env.RECORD_FIXTURES === '1') await writeFile(fixturePath, `${JSON.stringify(historyToObject(history), null, 2)}\n`);
    });
  });

  it('5xx burst then success: retried inside the activity and by Temporal, visible in the history', async () => {
    await withCase(async (c) => {
      await c.crew(crew3);
      // retries: 1 => two HTTP requests per activity attempt. Three 503s: attempt 1 fails (503, 503),
      // Temporal retries the activity, attempt 2 sees one more 503 and then succeeds.
      await c.control({ faults: { http5xx: { count: 3, status: 503 } } });
      const summary = await c.withWorker(() => c.ingest('burst'));
      expect(summary).toMatchObject({ status: 'applied', inserted: 3, httpAttempts: 2 });

      const history = await client.workflow.getHandle(c.workflowId('burst')).fetchHistory();
      const events = history.events ?? [];
      const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'fetchAstronauts');
      const started = events.find(
        (e) => e.activityTaskStartedEventAttributes && String(e.activityTaskStartedEventAttributes.scheduledEventId) === String(scheduled?.eventId),
      );
      expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(2);
      expect(started?.activityTaskStartedEventAttributes?.lastFailure?.message).toMatch(/HTTP 503/);
      const completed = events.find(
        (e) => e.activityTaskCompletedEventAttributes && String(e.activityTaskCompletedEventAttributes.scheduledEventId) === String(scheduled?.eventId),
      );
      const data = completed?.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
      const result = JSON.parse(Buffer.from(data ?? new Uint8Array()).toString('utf8')) as { httpAttempts: number; retriedErrors: string[] };
      expect(result).toMatchObject({ httpAttempts: 2, retriedErrors: ['attempt 1: HTTP 503 Service Unavailable'] });
    });
  });

  it('slow response: the response timeout fires and the request is retried', async () => {
    await withCase(async (c) => {
      await c.crew(crew3);
      await c.control({ faults: { slow: { count: 1, ms: 3_000 } } });
      const summary = await c.withWorker(() => c.ingest('slow'));
      expect(summary).toMatchObject({ status: 'applied', inserted: 3, httpAttempts: 2 });
      const state = (await (await fetch(`${simulatorUrl}/s/${c.scenario}/control/state`)).json()) as { served: Record<string, number> };
      expect(state.served).toMatchObject({ slow: 1, '200': 1 });
    });
  });

  it('malformed JSON: the run fails clearly (not retried) and the astronauts table is unchanged', async () => {
    await withCase(async (c) => {
      await c.crew(crew3);
      await c.withWorker(async () => {
        await c.ingest('before');
        await c.changes();
        const before = await c.table();
        await c.control({ faults: { malformed: { count: 1 } } });
        const err = await failureOf(c.ingest('malformed'));
        expect(rootCause(err)).toMatch(new RegExp(`^${IngestErrorType.MalformedPayload}: source body is not valid JSON`));
        expect(await c.table()).toEqual(before);
        expect(await c.changes()).toEqual([]);
        const runs = await c.pool.query('select count(*)::int as n from ingest_runs');
        expect(runs.rows[0]).toEqual({ n: 1 });
        // The unusable payload is dead-lettered, not dropped.
        const rejects = await c.pool.query<{ record_index: number | null; reason: string; raw_text: string }>(
          'select record_index, reason, raw_text from ingest_rejects',
        );
        expect(rejects.rows).toHaveLength(1);
        expect(rejects.rows[0]?.record_index).toBeNull();
        expect(rejects.rows[0]?.reason).toMatch(/^MalformedPayload/);
        expect(rejects.rows[0]?.raw_text).toContain('"people": [{"name": "Trunc');
        // Non-retryable: validate ran exactly once.
        const history = await client.workflow.getHandle(c.workflowId('malformed')).fetchHistory();
        const validateStarts = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes?.attempt);
        expect(validateStarts).toEqual([1, 1]); // fetch, validate
      });
    });
  });

  it('invalid records are dead-lettered with reasons and the valid ones land', async () => {
    await withCase(async (c) => {
      await c.crew(crew3);
      await c.control({ number: 42, faults: { invalidRecords: { count: 1, records: 4 }, duplicates: { count: 1 } } });
      const summary = await c.withWorker(() => c.ingest('invalid'));
      expect(summary).toMatchObject({ status: 'applied', fetched: 8, declaredNumber: 42, numberMismatch: true, inserted: 3, rejected: 5, duplicates: 1 });
      expect(Object.keys(await c.table())).toHaveLength(3);
      const { rows } = await c.pool.query<{ record_index: number; reason: string; record: unknown }>(
        'select record_index, reason, record from ingest_rejects where run_key = $1 order by record_index',
        [summary.runKey],
      );
      expect(rows.map((r) => r.record_index)).toEqual([3, 4, 5, 6, 7]);
      expect(rows[0]).toMatchObject({ reason: 'invalid record: name: must not be empty or blank', record: { name: '', craft: 'ISS' } });
      expect(rows[2]?.record).toEqual({ name: 42, craft: 'ISS' });
      expect(rows[4]?.reason).toMatch(/^duplicate of people\[0\] \(key "oleg kononenko"\)/);
    });
  });

  it('departure, craft change and return each produce exactly one row change (and an unchanged fetch none)', async () => {
    await withCase(async (c) => {
      const wal = await c.watchWal();
      await c.withWorker(async () => {
        await c.crew(crew3);
        await c.ingest('r1');
        expect((await c.changes()).map((x) => x.op)).toEqual(['INSERT', 'INSERT', 'INSERT']);
        if (wal) expect(await c.walChanges()).toHaveLength(3);

        // Tang Hongbo departs, Jasmin Moghbeli moves to Tiangong.
        await c.crew([{ name: 'Oleg Kononenko', craft: 'ISS' }, { name: 'Jasmin Moghbeli', craft: 'Tiangong' }]);
        const s2 = await c.ingest('r2');
        expect(s2).toMatchObject({ inserted: 0, updated: 1, unchanged: 1, departed: 1, returned: 0 });
        expect(await c.changes()).toEqual([
          { op: 'UPDATE', person_key: 'jasmin moghbeli', old_craft: 'ISS', new_craft: 'Tiangong' },
          { op: 'DELETE', person_key: 'tang hongbo', old_craft: 'Tiangong', new_craft: null },
        ]);
        if (wal) expect(await c.walChanges()).toEqual(['UPDATE jasmin moghbeli', 'DELETE tang hongbo']);

        // The same crew again (reordered, differently spaced): no change at all.
        await c.crew([{ name: ' Jasmin  Moghbeli ', craft: 'tiangong' }, { name: 'Oleg Kononenko', craft: 'iss' }]);
        expect(await c.ingest('r3')).toMatchObject({ inserted: 0, updated: 0, unchanged: 2, departed: 0 });
        expect(await c.changes()).toEqual([]);
        if (wal) expect(await c.walChanges()).toEqual([]);

        // Tang Hongbo returns: one INSERT of the same key.
        await c.crew([...crew3.slice(0, 2).map((p) => (p.name === 'Jasmin Moghbeli' ? { ...p, craft: 'Tiangong' } : p)), crew3[2] as Person]);
        const s4 = await c.ingest('r4');
        expect(s4).toMatchObject({ inserted: 1, updated: 0, departed: 0, returned: 1 });
        expect(await c.changes()).toEqual([{ op: 'INSERT', person_key: 'tang hongbo', old_craft: null, new_craft: 'Tiangong' }]);
        if (wal) expect(await c.walChanges()).toEqual(['INSERT tang hongbo']);
        const departures = await c.pool.query('select count(*)::int as n from astronaut_departures');
        expect(departures.rows[0]).toEqual({ n: 0 });
      });
    });
  });

  it('replaying a run id changes nothing', async () => {
    await withCase(async (c) => {
      await c.withWorker(async () => {
        await c.crew(crew3);
        const first = await c.ingest('first');
        await c.changes();
        const before = await c.table();
        // A different crew, but the run key of the first run: already applied.
        await c.crew([{ name: 'Someone Else', craft: 'ISS' }]);
        const replay = await c.ingest('replay', { runKey: first.runId });
        expect(replay).toMatchObject({ status: 'already-applied', runKey: first.runId, inserted: 3, departed: 0 });
        expect(await c.changes()).toEqual([]);
        expect(await c.table()).toEqual(before);
        const runs = await c.pool.query('select run_key from ingest_runs');
        expect(runs.rows).toEqual([{ run_key: first.runId }]);
      });
    });
  });

  it('a second trigger while a run is active attaches to it instead of starting an overlapping run', async () => {
    await withCase(
      async (c) => {
        await c.crew(crew3);
        await c.control({ faults: { slow: { count: 1, ms: 2_500 } } });
        const workflowId = c.workflowId('single');
        await c.withWorker(async () => {
          const first = await startOrAttachIngest(client, { taskQueue: c.taskQueue, workflowId });
          const second = await startOrAttachIngest(client, { taskQueue: c.taskQueue, workflowId });
          expect(first.started).toBe(true);
          expect(second.started).toBe(false);
          expect(second.runId).toBe(first.runId);
          const [a, b] = await Promise.all([first.handle.result(), second.handle.result()]);
          expect(a).toEqual(b);
          // Once the run has closed, the id is reusable: the next trigger starts a fresh run.
          const third = await startOrAttachIngest(client, { taskQueue: c.taskQueue, workflowId });
          expect(third.started).toBe(true);
          expect(third.runId).not.toBe(first.runId);
          await third.handle.result();
        });
        const runs = await c.pool.query('select count(*)::int as n from ingest_runs');
        expect(runs.rows[0]).toEqual({ n: 2 });
        const state = (await (await fetch(`${simulatorUrl}/s/${c.scenario}/control/state`)).json()) as { requests: number };
        expect(state.requests).toBe(2);
      },
      { responseTimeoutMs: 10_000 },
    );
  });

  it('the schedule is created or updated idempotently, with overlap policy SKIP', async () => {
    await withCase(async (c) => {
      const scheduleId = `${c.schema}-schedule`;
      try {
        expect(await upsertIngestSchedule(client, { scheduleId, taskQueue: c.taskQueue, interval: '1h', paused: true })).toBe('created');
        expect(await upsertIngestSchedule(client, { scheduleId, taskQueue: c.taskQueue, interval: '2h' })).toBe('updated');
        const d = await client.schedule.getHandle(scheduleId).describe();
        expect(d.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
        expect(d.spec.intervals).toMatchObject([{ every: 2 * 3600 * 1000 }]);
        expect(d.state.paused).toBe(true);
        expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: INGEST_WORKFLOW_TYPE, taskQueue: c.taskQueue });
      } finally {
        await deleteIngestSchedule(client, scheduleId);
      }
    });
  });
});
