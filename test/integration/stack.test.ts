/**
 * The native stack end to end (issue 2's tracer bullet): a row written in
 * Postgres reaches ClickHouse through Debezium, Kafka, Avro + the registry and
 * the Kafka engine; every component answers as its users expect.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chRows, clickhouse, postgres, requireEnv, runCommand, uniqueTag, waitFor } from './helpers.ts';
import { Connection } from '@temporalio/client';

const ch = clickhouse();
const pool = postgres();

interface CurrentRow {
  person_key: string;
  name: string;
  craft: string;
  is_deleted: number;
}

const current = (key: string) => chRows<CurrentRow>(ch, 'SELECT person_key, name, craft, is_deleted FROM astros.astronauts FINAL WHERE person_key = {k:String}', { k: key });

beforeAll(async () => {
  await pool.query('select 1');
});

afterAll(async () => {
  await ch.close();
  await pool.end();
});

describe('native stack', () => {
  it('has the Debezium connector and its task RUNNING', async () => {
    const res = await fetch(`${requireEnv('CONNECT_URL')}/connectors/astros-postgres/status`);
    expect(res.status).toBe(200);
    const status = (await res.json()) as { connector: { state: string }; tasks: { state: string }[] };
    expect(status.connector.state).toBe('RUNNING');
    expect(status.tasks.map((t) => t.state)).toEqual(['RUNNING']);
  });

  it('streams an insert and an update from Postgres into ClickHouse', async () => {
    const key = uniqueTag('stack');
    await pool.query(`insert into public.astronauts (person_key, name, craft, updated_by_run) values ($1, 'Stack Test', 'ISS', 'stack-test')`, [key]);
    const inserted = await waitFor(() => current(key), (r) => r.length === 1, `insert of ${key} in ClickHouse`);
    expect(inserted[0]).toMatchObject({ person_key: key, name: 'Stack Test', craft: 'ISS', is_deleted: 0 });

    await pool.query(`update public.astronauts set craft = 'Tiangong', updated_at = now() where person_key = $1`, [key]);
    const updated = await waitFor(() => current(key), (r) => r[0]?.craft === 'Tiangong', `update of ${key} in ClickHouse`);
    expect(updated).toHaveLength(1);

    await pool.query('delete from public.astronauts where person_key = $1', [key]);
  });

  it('registers the Avro value schema under the Confluent-compatible API', async () => {
    const res = await fetch(`${requireEnv('REGISTRY_URL')}/apis/ccompat/v7/subjects`);
    expect(res.status).toBe(200);
    const subjects = (await res.json()) as string[];
    expect(subjects).toContain('astros.public.astronauts-value');
    const latest = await fetch(`${requireEnv('REGISTRY_URL')}/apis/ccompat/v7/subjects/astros.public.astronauts-value/versions/latest`);
    const body = (await latest.json()) as { schema: string };
    expect(JSON.parse(body.schema)).toMatchObject({ type: 'record' });
  });

  it('has a Temporal server that answers and a Web UI that serves a page', async () => {
    const connection = await Connection.connect({ address: requireEnv('TEMPORAL_ADDRESS') });
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toMatch(/^\d+\.\d+/);
    } finally {
      await connection.close();
    }
    const ui = await fetch(requireEnv('TEMPORAL_UI_URL'));
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/<html/i);
  });

  it('lets `dbt debug` connect to the embedded ClickHouse', async () => {
    const url = new URL(requireEnv('CLICKHOUSE_URL'));
    const out = await runCommand(requireEnv('DBT_EXECUTABLE'), ['debug', '--project-dir', 'dbt', '--profiles-dir', 'dbt'], {
      CLICKHOUSE_HOST: url.hostname,
      CLICKHOUSE_PORT: url.port,
      DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
    });
    expect(out.text).toContain('All checks passed');
    expect(out.code).toBe(0);
  });

  it('answers `npm run dbt -- --help` with its own usage and dbt\'s, not a dbt option error', async () => {
    const out = await runCommand('bash', [path.join('scripts', 'dbt.sh'), '--help']);
    expect(out.text).toContain('With no arguments it runs `dbt build`');
    expect(out.text).toMatch(/Usage: dbt \[OPTIONS\] \[COMMAND\]/);
    expect(out.text).not.toContain('No such option');
    expect(out.code).toBe(0);
  });
});
