/**
 * Ours in the load scenario: the resyncTable workflow (what `npm run resync --
 * public.bench_load` starts) run by the dev stack's worker on the bench's
 * captured table, from an empty live copy (bench.bench_load, its change log
 * and history truncated: a first load). Timed from the workflow's start to
 * its completion (prepare, parallel COPY ranges into the shadow, swap with its
 * catch-up, completion with the history); the closing validation is skipped
 * (the other contenders do not validate). The phases come from the history.
 *
 * How the bench's table reaches resync. Resync resolves a table through the
 * live catalog, which holds what the main pipeline captures: declaring
 * bench_load there would make the main connector capture it, its objects
 * appear in the production database, and every later `npm run setup` keep
 * them. Instead the workflow input names a `target` (activities/resync.ts):
 * the bench's declaration (bench/lib/objects.ts), its names (database
 * `bench`, topic prefix `bench`) and the bench connector's slot, so the load,
 * swap and catch-up act on exactly the objects the bench derives for it.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Client } from '@temporalio/client';
import type { Admin } from 'kafkajs';
import type { ResyncTarget } from '../../activities/resync.ts';
import { type ResyncTableInput, type ResyncTableResult } from '../../workflows/resync-table.ts';
import { RESYNC_WORKFLOW_TYPE, resyncWorkflowId } from '../../shared/workflows.ts';
import { measured, type LoadRun } from './load-result.ts';
import { benchLoadTable, loadNames, nameOptions, names } from './objects.ts';
import { waitIdle } from './ours.ts';
import { phaseEvents, resyncPhases, type ResyncPhases } from './resync-phases.ts';

export interface OursLoadDeps {
  ch: ClickHouseClient;
  admin: Admin;
  temporal: Client;
  taskQueue: string;
  pidDir: string;
}

export const resyncTarget: ResyncTarget = { declaration: benchLoadTable, names: nameOptions, slot: names.slot };

export async function oursLoad(
  d: OursLoadDeps,
  o: { rows: number; parallel?: number; rangeRows?: number; timeoutMs: number },
): Promise<LoadRun & { result: ResyncTableResult; phases: ResyncPhases }> {
  await waitIdle(d.admin, 120_000, loadNames);
  for (const t of [loadNames.changelog, loadNames.changes, loadNames.current]) await d.ch.command({ query: `TRUNCATE TABLE ${t}` });
  const input: ResyncTableInput = {
    source: benchLoadTable.source,
    target: resyncTarget,
    skipValidation: true,
    ...(o.parallel ? { parallel: o.parallel } : {}),
    ...(o.rangeRows ? { rangeRows: o.rangeRows } : {}),
  };
  const start = Date.now();
  const workflowId = `${resyncWorkflowId(benchLoadTable.source)}-bench-${start}`;
  const { value, memory, chTracked } = await measured(d, { absolute: [], growth: ['worker', 'clickhouse'] }, async () => {
    const handle = await d.temporal.workflow.start(RESYNC_WORKFLOW_TYPE, { taskQueue: d.taskQueue, workflowId, args: [input] });
    const r = await withTimeout(handle.result() as Promise<ResyncTableResult>, o.timeoutMs, async () => {
      await handle.cancel().catch(() => undefined);
      return new Error(`resyncTable not done after ${o.timeoutMs} ms (workflow ${handle.workflowId}, cancelled)`);
    });
    return { result: r, end: Date.now() };
  });
  const { result } = value;
  const elapsedMs = value.end - start;
  const phases = resyncPhases(phaseEvents(await d.temporal.workflow.getHandle(workflowId).fetchHistory()));
  const load = phases.loadResyncRange;
  return {
    rows: o.rows,
    elapsedMs,
    rowsPerSec: o.rows / (elapsedMs / 1000),
    memory,
    chTracked,
    stateOk: result.loadedRows === o.rows,
    result,
    phases,
    detail: {
      prepareMs: phases.prepareResync?.spanMs ?? NaN,
      loadMs: load?.spanMs ?? NaN,
      loadRowsPerSec: load ? result.rowsRead / (load.spanMs / 1000) : NaN,
      rangeBusyMs: load?.busyMs ?? NaN,
      ranges: result.ranges,
      swapMs: phases.swapResync?.spanMs ?? NaN,
      completeMs: phases.completeResync?.spanMs ?? NaN,
      workflowMs: phases.workflowMs,
    },
  };
}

/** `p`, or the error `onTimeout` gives once `ms` have passed. */
async function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Promise<Error>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => void onTimeout().then(reject, reject), ms);
  });
  try {
    return await Promise.race([p, expired]);
  } finally {
    clearTimeout(timer);
  }
}
