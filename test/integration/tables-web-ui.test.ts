/**
 * `tables add` and `tables remove` started the way the Temporal Web UI starts
 * them: a plain start of workflow type addTable / removeTable with a JSON
 * input, no CLI around it. The workflow itself writes the table's generated
 * dbt history model (dbt/models/history/scd2_<table>.sql) once the table
 * streams, and removes it with the table: the Web UI's add has its model too.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyDir, historyModelName } from '../../catalog/dbt-history.ts';
import { ADD_TABLE_WORKFLOW_TYPE, addTableWorkflowId, REMOVE_TABLE_WORKFLOW_TYPE, removeTableWorkflowId } from '../../shared/workflows.ts';
import type { AddTableResult } from '../../workflows/add-table.ts';
import type { RemoveTableResult } from '../../workflows/remove-table.ts';
import { clickhouse, dropCapturedTable, postgres, startPipelineTestWorker, uniqueTag, type TestWorker } from './helpers.ts';

const tag = uniqueTag('webui');
const source = `public.${tag}`;
const taskQueue = `tables-webui-${tag}`;
const model = path.join(historyDir, `${historyModelName(source)}.sql`);

const pool: pg.Pool = postgres();
const ch: ClickHouseClient = clickhouse();
let worker: TestWorker | undefined;

beforeAll(async () => {
  await pool.query(`create table ${source} (id bigint primary key, name text not null, amount numeric(12,2))`);
  await pool.query(`insert into ${source} select g, 'name ' || g, g * 1.5 from generate_series(1, 20) g`);
  worker = await startPipelineTestWorker(taskQueue, pool, ch);
});

afterAll(async () => {
  await worker?.stop();
  fs.rmSync(model, { force: true });
  await dropCapturedTable(pool, ch, source).catch(() => undefined);
  await pool.query(`drop table if exists ${source}`).catch(() => undefined);
  await ch.close();
  await pool.end();
});

describe('tables from the Web UI', () => {
  it('addTable started by a plain client writes the dbt model; removeTable removes it', { timeout: 300_000 }, async () => {
    expect(fs.existsSync(model)).toBe(false);
    const client = worker!.client;
    const add = await client.workflow.start(ADD_TABLE_WORKFLOW_TYPE, { taskQueue, workflowId: addTableWorkflowId(source), args: [{ source }] });
    const added = (await add.result()) as AddTableResult;
    expect(added).toMatchObject({ source, key: ['id'], loadedRows: 20 });
    expect(fs.existsSync(model), `${model} written by the workflow`).toBe(true);
    expect(added.dbtModels?.written).toContain(model);
    const text = fs.readFileSync(model, 'utf8');
    expect(text).toContain(`changes=env_var('ASTROS_SOURCE_DATABASE', 'astros') ~ '.${tag}_changes'`);
    expect(text).toContain("key=['id']");
    expect(text).toContain("columns=['name', 'amount', 'amount_text']");

    const remove = await client.workflow.start(REMOVE_TABLE_WORKFLOW_TYPE, { taskQueue, workflowId: removeTableWorkflowId(source), args: [{ source, drop: true }] });
    const removed = (await remove.result()) as RemoveTableResult;
    expect(removed.dropped.length).toBeGreaterThan(0);
    expect(removed.dbtModels).toBeDefined();
    expect(fs.existsSync(model)).toBe(false);
  });
});
