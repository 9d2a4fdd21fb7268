/**
 * Dead letters of the ingest (`ingest_rejects`): list them, and replay them
 * after a fix with the checks of the code now running.
 *
 * Snapshot semantics decide what a replay may do: each applied fetch says who
 * is in space, so only the records of the LATEST applied run can still be
 * brought in; a reject of an older run is `superseded` (a newer snapshot
 * decided that person's presence since). A record that passes the checks now
 * is inserted unless its key is already there (`present`, e.g. a duplicate).
 * A whole payload (not JSON, wrong envelope, too many people) is applied as a
 * snapshot of its own under run key `replay-<reject_id>`, fetched at the time
 * it was rejected: if a newer snapshot exists it is `superseded` (stale).
 *
 * Idempotent: every outcome but "still invalid" is recorded in
 * `dead_letter_replays` and never replayed again; records that still fail are
 * reported and can be replayed after the next fix. One transaction under the
 * same advisory lock as the ingest's apply, so a replay never races a run.
 * `dryRun` computes the same outcomes and writes nothing.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import { checkPayload, checkPerson, parseJson, type RawPerson } from '../payload-checks.ts';
import { applySnapshot } from '../ingest-store.ts';
import { snapshotOf, transformPeople } from '../transform.ts';

export type ReplayOutcome = 'applied' | 'present' | 'superseded' | 'unrecoverable' | 'still-invalid';

export interface ReplayItem {
  source: 'ingest_rejects' | 'kafka_errors';
  item: string;
  what: string;
  outcome: ReplayOutcome;
  detail: string;
  result?: string;
}

export interface RejectRow {
  reject_id: string;
  run_key: string;
  record_index: number | null;
  reason: string;
  /** SQL NULL and jsonb `null` both read as null: has_record tells them apart. */
  record: unknown;
  has_record: boolean;
  raw_text: string | null;
  raw_truncated: boolean;
  rejected_at: Date;
  replayed: string | null;
}

export interface RejectReplayOptions {
  dryRun: boolean;
  runKey?: string;
  /** ASTROS_MAX_PEOPLE for whole payloads. */
  maxPeople: number;
  /** The record checks (the running code's; tests hand in a "fixed" one). */
  checkRecord?: (record: unknown) => { person: RawPerson } | { reason: string };
}

const LOCK = `select pg_advisory_xact_lock(hashtext(current_schema() || '.astronauts'))`;

export async function listRejects(pool: pg.Pool | pg.PoolClient, opts: { runKey?: string; limit: number; pendingOnly: boolean }): Promise<RejectRow[]> {
  const { rows } = await pool.query<RejectRow>(
    `select r.reject_id::text, r.run_key, r.record_index, r.reason, r.record, r.record is not null as has_record, r.raw_text, r.raw_truncated, r.rejected_at,
            d.outcome || coalesce(' ' || to_char(d.replayed_at, 'YYYY-MM-DD HH24:MI:SS'), '') as replayed
     from ingest_rejects r
     left join dead_letter_replays d on d.source = 'ingest_rejects' and d.item = r.reject_id::text
     where ($1::text is null or r.run_key = $1) and (not $2 or d.item is null)
     order by r.reject_id
     limit $3`,
    [opts.runKey ?? null, opts.pendingOnly, opts.limit],
  );
  return rows;
}

/** The kept record, rebuilt from jsonb or from its escaped text; undefined when the text was cut. */
function keptContent(r: RejectRow): { value: unknown } | undefined {
  if (r.has_record) return { value: r.record };
  if (r.raw_text === null || r.raw_truncated) return undefined;
  try {
    return { value: JSON.parse(r.raw_text) as unknown };
  } catch {
    return undefined;
  }
}

export async function replayRejects(pool: pg.Pool, opts: RejectReplayOptions): Promise<ReplayItem[]> {
  const check = opts.checkRecord ?? checkPerson;
  const client = await pool.connect();
  const items: ReplayItem[] = [];
  const wholePayloads: RejectRow[] = [];
  try {
    await client.query('begin');
    await client.query(LOCK);
    const latest = (await client.query<{ run_key: string }>(`select run_key from ingest_runs where status = 'applied' order by fetched_at desc limit 1`)).rows[0]?.run_key;
    const pending = await listRejects(client, { ...(opts.runKey !== undefined ? { runKey: opts.runKey } : {}), limit: 1_000_000, pendingOnly: true });
    for (const r of pending) {
      if (r.record_index === null) {
        wholePayloads.push(r);
        continue;
      }
      const base = { source: 'ingest_rejects' as const, item: r.reject_id, what: `run ${r.run_key} people[${r.record_index}]` };
      const content = keptContent(r);
      let item: ReplayItem;
      if (r.run_key !== latest) {
        item = { ...base, outcome: 'superseded', detail: `run ${latest ?? '(none)'} was applied since` };
      } else if (!content) {
        item = { ...base, outcome: 'unrecoverable', detail: 'the kept text was cut (raw_truncated)' };
      } else {
        const checked = check(content.value);
        const { people, unkeyable } = 'person' in checked ? transformPeople([{ index: r.record_index, person: checked.person }]) : { people: [], unkeyable: [] };
        const person = people[0];
        if (!person) {
          item = { ...base, outcome: 'still-invalid', detail: 'reason' in checked ? checked.reason : (unkeyable[0]?.reason ?? 'no key') };
        } else {
          const inserted = await client.query(
            `insert into astronauts (person_key, name, craft, updated_by_run) values ($1, $2, $3, $4) on conflict (person_key) do nothing`,
            [person.personKey, person.name, person.craft, `replay-${r.reject_id}`],
          );
          if (inserted.rowCount === 1) await client.query('delete from astronaut_departures where person_key = $1', [person.personKey]);
          item = { ...base, outcome: inserted.rowCount === 1 ? 'applied' : 'present', detail: `${person.personKey} (${person.craft})` };
        }
      }
      if (item.outcome !== 'still-invalid') await recordReplay(client, item);
      items.push(item);
    }
    await client.query(opts.dryRun ? 'rollback' : 'commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  for (const r of wholePayloads) items.push(await replayPayload(pool, r, opts));
  return items;
}

async function recordReplay(db: pg.Pool | pg.PoolClient, item: ReplayItem): Promise<void> {
  await db.query(
    `insert into dead_letter_replays (source, item, outcome, detail, result) values ($1, $2, $3, $4, $5) on conflict (source, item) do nothing`,
    [item.source, item.item, item.outcome, item.detail, item.result ?? null],
  );
}

/** A whole payload, applied as its own snapshot (see the header). */
async function replayPayload(pool: pg.Pool, r: RejectRow, opts: RejectReplayOptions): Promise<ReplayItem> {
  const base = { source: 'ingest_rejects' as const, item: r.reject_id, what: `run ${r.run_key} (whole payload)` };
  if (r.raw_text === null || r.raw_truncated) return done(pool, { ...base, outcome: 'unrecoverable', detail: 'the kept body was cut (raw_truncated)' }, opts);
  let checked;
  try {
    checked = checkPayload(parseJson(r.raw_text), { maxPeople: opts.maxPeople });
  } catch (err) {
    if (!(err instanceof ApplicationFailure)) throw err;
    return { ...base, outcome: 'still-invalid', detail: `${err.type}: ${err.message}` };
  }
  const { apply } = snapshotOf(checked);
  const runKey = `replay-${r.reject_id}`;
  if (opts.dryRun) return { ...base, outcome: 'applied', detail: `dry run: would apply ${apply.people.length} people as run ${runKey}` };
  const body = Buffer.from(r.raw_text);
  const result = await applySnapshot(pool, {
    runKey,
    workflowId: 'dead-letters-replay',
    workflowRunId: runKey,
    payload: { payloadId: runKey, sourceUrl: `dead letter ${r.reject_id}`, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex'), fetchedAt: r.rejected_at.toISOString() },
    httpAttempts: 0,
    ...apply,
  });
  const item: ReplayItem =
    result.status === 'stale'
      ? { ...base, outcome: 'superseded', detail: 'a newer snapshot was applied since', result: runKey }
      : { ...base, outcome: 'applied', detail: `run ${runKey}: ${result.inserted} inserted, ${result.updated} updated, ${result.departed} departed, ${result.rejected} rejected`, result: runKey };
  return done(pool, item, opts);
}

async function done(pool: pg.Pool, item: ReplayItem, opts: { dryRun: boolean }): Promise<ReplayItem> {
  if (!opts.dryRun) await recordReplay(pool, item);
  return item;
}
