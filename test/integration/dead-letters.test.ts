/**
 * `astros dead-letters` for ingest_rejects, in a throw-away schema: records
 * rejected by a run are replayed after a fix (here a check that was too
 * strict, handed in as the fixed code would be), a dry run writes nothing, a
 * second replay changes nothing, every outcome is recorded; an unusable
 * payload (too many people) is applied as its own snapshot once the limit is
 * raised, which supersedes the older run's leftovers. The real CLI lists
 * them. (kafka_errors replay: test/integration/topic-fuzz.test.ts.)
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { createIngestActivities } from '../../activities/ingest.ts';
import { checkPerson } from '../../activities/payload-checks.ts';
import { createPool } from '../../connectors/postgres/pool.ts';
import { migrate } from '../../connectors/postgres/migrate.ts';
import { replayRejects } from '../../activities/dead-letters/replay-rejects.ts';
import { requireEnv, runCommand, uniqueTag } from './helpers.ts';

const schema = uniqueTag('deadletters');
let databaseUrl: string;
let scenarioUrl: string;
let pool: pg.Pool;

/** The "fix": tabs in names become spaces instead of rejecting the record. */
const fixedCheck = (record: unknown) =>
  checkPerson(record && typeof record === 'object' && 'name' in record && typeof record.name === 'string' ? { ...record, name: record.name.replaceAll('\t', ' ') } : record);

async function ingest(runKey: string, body: unknown): Promise<string> {
  const res = await fetch(`${scenarioUrl}/control`, { method: 'POST', body: JSON.stringify({ serve: [{ bodyBase64: Buffer.from(JSON.stringify(body)).toString('base64') }] }) });
  if (!res.ok) throw new Error(await res.text());
  const acts = createIngestActivities({
    pool,
    source: { url: `${scenarioUrl}/astros.json`, connectTimeoutMs: 2_000, responseTimeoutMs: 5_000, retries: 0, retryMinDelayMs: 10, maxBodyBytes: 1 << 20, maxPeople: 50 },
  });
  const fetched = await acts.fetchAstronauts({ payloadId: runKey });
  try {
    const r = await acts.upsertAstronauts({ runKey, workflowId: 'dead-letters-test', workflowRunId: runKey, payload: fetched, httpAttempts: 1 });
    return r.status;
  } catch (err) {
    if (err instanceof ApplicationFailure) return err.type ?? 'failed';
    throw err;
  }
}

const table = async () => (await pool.query<{ person_key: string }>('select person_key from astronauts order by person_key')).rows.map((r) => r.person_key);
const replays = async () => (await pool.query<{ outcome: string }>('select outcome from dead_letter_replays order by item::bigint')).rows.map((r) => r.outcome);
const outcomes = (items: { outcome: string }[]) => items.map((i) => i.outcome);

beforeAll(async () => {
  databaseUrl = requireEnv('DATABASE_URL');
  scenarioUrl = `${requireEnv('SIMULATOR_URL')}/s/${schema}`;
  await migrate({ databaseUrl, schema });
  pool = createPool(databaseUrl, { schema: schema, max: 2, application: 'astros-ingest' });
});

afterAll(async () => {
  await pool?.end();
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`drop schema if exists "${schema}" cascade`).finally(() => admin.end());
  await fetch(scenarioUrl, { method: 'DELETE' }).catch(() => undefined);
});

describe('dead-letters replay of ingest_rejects', () => {
  it('replays after a fix, idempotently, with a dry run; a whole payload becomes a snapshot of its own', { timeout: 120_000 }, async () => {
    const people = [
      { name: 'Anna Ok', craft: 'ISS' },
      { name: 'Tab\tPerson', craft: 'ISS' },
      { name: 'Nul\u0000Person', craft: 'ISS' },
      { name: 'ANNA OK', craft: 'ISS' },
    ];
    expect(await ingest('r1', { message: 'success', number: 4, people })).toBe('applied');
    expect(await table()).toEqual(['anna ok']);

    const dry = await replayRejects(pool, { dryRun: true, maxPeople: 50, checkRecord: fixedCheck });
    expect(outcomes(dry)).toEqual(['applied', 'still-invalid', 'present']);
    expect(await table()).toEqual(['anna ok']);
    expect(await replays()).toEqual([]);

    const first = await replayRejects(pool, { dryRun: false, maxPeople: 50, checkRecord: fixedCheck });
    expect(first.map((i) => `${i.outcome} ${i.what}`)).toEqual(['applied run r1 people[1]', 'still-invalid run r1 people[2]', 'present run r1 people[3]']);
    expect(await table()).toEqual(['anna ok', 'tab person']);
    expect(await replays()).toEqual(['applied', 'present']);
    const row = await pool.query('select updated_by_run from astronauts where person_key = $1', ['tab person']);
    expect(row.rows[0]).toEqual({ updated_by_run: `replay-${first[0]!.item}` });

    // Again: nothing changes; the record that still fails is only reported.
    const second = await replayRejects(pool, { dryRun: false, maxPeople: 50, checkRecord: fixedCheck });
    expect(outcomes(second)).toEqual(['still-invalid']);
    expect(await table()).toEqual(['anna ok', 'tab person']);
    expect(await replays()).toEqual(['applied', 'present']);

    // A payload over ASTROS_MAX_PEOPLE is dead-lettered whole; the fix is a higher limit.
    const crowd = Array.from({ length: 60 }, (_, i) => ({ name: `Crowd ${i}`, craft: 'ISS' }));
    expect(await ingest('r2', { message: 'success', number: 60, people: crowd })).toBe('InvalidPayload');
    const whole = await replayRejects(pool, { dryRun: false, maxPeople: 100 });
    // r1's leftover is superseded by the newer snapshot only once that snapshot is applied: next replay.
    expect(outcomes(whole)).toEqual(['still-invalid', 'applied']);
    expect(await table()).toHaveLength(60);
    expect(outcomes(await replayRejects(pool, { dryRun: false, maxPeople: 100 }))).toEqual(['superseded']);
    expect(await replayRejects(pool, { dryRun: false, maxPeople: 100 })).toEqual([]);
    expect(await table()).toHaveLength(60);

    const cli = await runCommand('node', ['--import', 'tsx', 'cli/astros.ts', 'dead-letters', 'list', '--source', 'ingest'], { DATABASE_SCHEMA: schema });
    expect(cli.code).toBe(0);
    expect(cli.text).toContain('invalid record: name: must not contain control characters');
    expect(cli.text).toMatch(/whole payload\tapplied/);
    expect(cli.text).toContain('4 kept record(s)');
  });
});
