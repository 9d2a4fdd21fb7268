/**
 * The operational Postgres database: staging of fetched payloads, the
 * snapshot upsert, the audit row and the dead letters.
 *
 * Departure semantics (see db/migrations/postgres/010_astronauts.sql): a
 * person absent from a fetch is DELETEd from `astronauts`. A DELETE is what
 * Debezium emits as a delete event (op 'd', rewritten with `__deleted=true`),
 * which ClickHouse's current-state table turns into its deleted flag and the
 * SCD2 mart turns into "close the current row". A person who comes back is a
 * fresh INSERT of the same key: a create event, i.e. a new SCD2 row. A soft
 * marker (in_space=false) would instead arrive as an ordinary update, every
 * consumer would have to know that this column means "gone", and the
 * current-state view would keep departed people unless everyone filtered.
 * Who left when is kept, outside the published table, in
 * `astronaut_departures` (also how `returned` is counted).
 *
 * Only rows whose values change are written: an unchanged person produces no
 * WAL and therefore no CDC event, so departure, craft change and return each
 * produce exactly one row change.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { IngestErrorType, permanentFailure } from '../shared/errors.ts';
import type { Person } from './transform.ts';
import type { RecordReject } from './payload-checks.ts';
import { keptRecord, MAX_KEPT_CHARS, storableText } from './reject-text.ts';
import type { ApplyCounts, IngestStatus } from '../shared/workflows.ts';

export interface StagedPayload {
  payloadId: string;
  sourceUrl: string;
  bytes: number;
  sha256: string;
  /** Database clock, ISO 8601. Orders snapshots (an older fetch never overwrites a newer one). */
  fetchedAt: string;
  /** The Content-Type the source declared (named when the body is not JSON; not stored). */
  contentType?: string;
}

/**
 * Claim check: payloads can be megabytes (the simulator serves up to 100,000
 * people), too big for workflow history, so the body is kept here and later
 * steps receive only this small reference. Idempotent per payload id (a
 * retried fetch replaces the body it staged before).
 */
export async function stagePayload(
  pool: pg.Pool,
  input: { payloadId: string; sourceUrl: string; body: Buffer },
): Promise<StagedPayload> {
  const sha256 = createHash('sha256').update(input.body).digest('hex');
  const { rows } = await pool.query<{ fetched_at: Date }>(
    `insert into ingest_payloads (payload_id, source_url, body, bytes, sha256, fetched_at)
     values ($1, $2, $3, $4, $5, clock_timestamp())
     on conflict (payload_id) do update
       set source_url = excluded.source_url, body = excluded.body, bytes = excluded.bytes,
           sha256 = excluded.sha256, fetched_at = excluded.fetched_at
     returning fetched_at`,
    [input.payloadId, input.sourceUrl, input.body, input.body.length, sha256],
  );
  const fetchedAt = rows[0]?.fetched_at;
  if (!fetchedAt) throw new Error(`staging payload ${input.payloadId} returned no row`);
  return { payloadId: input.payloadId, sourceUrl: input.sourceUrl, bytes: input.body.length, sha256, fetchedAt: fetchedAt.toISOString() };
}

export async function loadPayload(pool: pg.Pool, ref: StagedPayload): Promise<Buffer> {
  const { rows } = await pool.query<{ body: Buffer; sha256: string }>(
    'select body, sha256 from ingest_payloads where payload_id = $1',
    [ref.payloadId],
  );
  const row = rows[0];
  if (!row || row.sha256 !== ref.sha256) {
    throw permanentFailure(
      IngestErrorType.StagedPayloadMissing,
      row ? `staged payload ${ref.payloadId} changed since it was fetched` : `staged payload ${ref.payloadId} not found (pruned after a day)`,
    );
  }
  return row.body;
}

/** Dead-letter a payload that cannot be used at all (not JSON, wrong envelope). Idempotent per run key. */
export async function rejectPayload(pool: pg.Pool, input: { runKey: string; reason: string; body: string }): Promise<void> {
  // NUL is not allowed in Postgres text; the raw bytes stay in ingest_payloads anyway.
  await pool.query(
    `insert into ingest_rejects (run_key, record_index, reason, raw_text, raw_truncated)
     values ($1, null, $2, $3, $4)
     on conflict (run_key, record_index) do nothing`,
    [input.runKey, storableText(input.reason, 4096), storableText(input.body), input.body.length > MAX_KEPT_CHARS],
  );
}

export interface ApplyInput {
  runKey: string;
  workflowId: string;
  workflowRunId: string;
  payload: StagedPayload;
  httpAttempts: number;
  declaredNumber: number;
  fetched: number;
  numberMismatch: boolean;
  people: Person[];
  rejects: RecordReject[];
  duplicates: number;
}

export interface ApplyResult extends ApplyCounts {
  status: IngestStatus;
}

interface RunRow extends ApplyCounts {
  status: 'applied' | 'stale';
}

/**
 * Apply one snapshot in ONE transaction: upsert present people, delete absent
 * ones, dead-letter rejects, write the `ingest_runs` row. Idempotent per run
 * key: a run key already in `ingest_runs` applies nothing and returns what was
 * recorded then. Concurrent applies (e.g. a scheduled run and a manual one)
 * are serialised by an advisory lock, and a snapshot fetched before the last
 * applied one is recorded as `stale` and not applied, so an old payload can
 * never resurrect people who have departed since.
 */
export async function applySnapshot(pool: pg.Pool, input: ApplyInput, heartbeat: (step: string) => void = () => undefined): Promise<ApplyResult> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(`select pg_advisory_xact_lock(hashtext(current_schema() || '.astronauts'))`);

    const previous = await client.query<RunRow>(
      `select status, inserted, updated, unchanged, departed, returned, rejected, duplicates
       from ingest_runs where run_key = $1`,
      [input.runKey],
    );
    const done = previous.rows[0];
    if (done) {
      await client.query('commit');
      const { status: _status, ...counts } = done;
      return { ...counts, status: 'already-applied' };
    }

    const newer = await client.query<{ run_key: string }>(
      `select run_key from ingest_runs where status = 'applied' and fetched_at > $1 order by fetched_at desc limit 1`,
      [input.payload.fetchedAt],
    );
    if (newer.rows.length > 0) {
      const result: ApplyResult = { status: 'stale', inserted: 0, updated: 0, unchanged: 0, departed: 0, returned: 0, rejected: 0, duplicates: 0 };
      await insertRun(client, input, result);
      await client.query('commit');
      return result;
    }

    heartbeat('snapshot');
    await client.query(
      `create temp table ingest_snapshot (person_key text primary key, name text not null, craft text not null) on commit drop`,
    );
    await client.query(
      `insert into ingest_snapshot (person_key, name, craft)
       select * from unnest($1::text[], $2::text[], $3::text[])`,
      [input.people.map((p) => p.personKey), input.people.map((p) => p.name), input.people.map((p) => p.craft)],
    );
    await client.query('analyze ingest_snapshot');

    heartbeat('upsert');
    // Rows whose name and craft are unchanged are not touched (no WAL, no CDC event).
    const upserted = await client.query<{ inserted: boolean }>(
      `insert into astronauts as a (person_key, name, craft, updated_by_run)
       select s.person_key, s.name, s.craft, $1 from ingest_snapshot s
       on conflict (person_key) do update
         set name = excluded.name, craft = excluded.craft, updated_at = now(), updated_by_run = excluded.updated_by_run
         where (a.name, a.craft) is distinct from (excluded.name, excluded.craft)
       returning (a.xmax = 0) as inserted`,
      [input.runKey],
    );
    const inserted = upserted.rows.filter((r) => r.inserted).length;
    const updated = upserted.rows.length - inserted;

    heartbeat('returns');
    const returned = await client.query(
      `delete from astronaut_departures d using ingest_snapshot s where s.person_key = d.person_key`,
    );

    heartbeat('departures');
    const departed = await client.query<{ departed: number }>(
      `with gone as (
         delete from astronauts a
         where not exists (select 1 from ingest_snapshot s where s.person_key = a.person_key)
         returning a.person_key, a.name, a.craft
       ), logged as (
         insert into astronaut_departures (person_key, name, craft, departed_at, departed_in_run)
         select person_key, name, craft, now(), $1 from gone
         on conflict (person_key) do update
           set name = excluded.name, craft = excluded.craft, departed_at = excluded.departed_at, departed_in_run = excluded.departed_in_run
         returning 1
       )
       select (select count(*) from gone)::int as departed, (select count(*) from logged)::int as logged`,
      [input.runKey],
    );

    heartbeat('rejects');
    if (input.rejects.length > 0) {
      // jsonb when Postgres can hold the record exactly, else escaped JSON text (see reject-text.ts).
      const kept = input.rejects.map((r) => keptRecord(r.record));
      await client.query(
        `insert into ingest_rejects (run_key, record_index, reason, record, raw_text, raw_truncated)
         select $1, i, r, rec::jsonb, raw, cut from unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::bool[]) as t(i, r, rec, raw, cut)
         on conflict (run_key, record_index) do nothing`,
        [
          input.runKey,
          input.rejects.map((r) => r.index),
          input.rejects.map((r) => storableText(r.reason, 4096)),
          kept.map((k) => k.json),
          kept.map((k) => k.raw),
          kept.map((k) => k.truncated),
        ],
      );
    }

    const result: ApplyResult = {
      status: 'applied',
      inserted,
      updated,
      unchanged: input.people.length - inserted - updated,
      departed: departed.rows[0]?.departed ?? 0,
      returned: returned.rowCount ?? 0,
      rejected: input.rejects.length,
      duplicates: input.duplicates,
    };
    await insertRun(client, input, result);
    // Staged bodies are kept a day for inspection, then pruned by later runs.
    await client.query(`delete from ingest_payloads where fetched_at < now() - interval '1 day'`);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

async function insertRun(client: pg.PoolClient, input: ApplyInput, r: ApplyResult): Promise<void> {
  await client.query(
    `insert into ingest_runs (run_key, workflow_id, workflow_run_id, payload_id, source_url, fetched_at, status,
       http_attempts, declared_number, fetched, number_mismatch,
       inserted, updated, unchanged, departed, returned, rejected, duplicates)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
    [
      input.runKey, input.workflowId, input.workflowRunId, input.payload.payloadId, input.payload.sourceUrl, input.payload.fetchedAt,
      r.status, input.httpAttempts, input.declaredNumber, input.fetched, input.numberMismatch,
      r.inserted, r.updated, r.unchanged, r.departed, r.returned, r.rejected, r.duplicates,
    ],
  );
}
