/**
 * Replays addTable and removeTable histories recorded with the code before
 * the workflows wrote the dbt history models (test/fixtures/add-table-history.json,
 * remove-table-history.json: a completed add with its load, a completed
 * remove with --drop) against the current workflow code.
 *
 * If this fails, a change to workflows/add-table.ts or remove-table.ts is not
 * guarded by patched(): adds and removes in flight when the new worker is
 * deployed would fail with a determinism error.
 */
import { Worker } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { installRuntime, loadHistory, workflowsPath, type History } from './replay.ts';

const started = (h: History) => h.events?.[0]?.workflowExecutionStartedEventAttributes;
const activityTypes = (h: History) => (h.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []));

/** The recorded run's workflow id: the add's child (its load) is named after it. */
const workflowIdOf = (h: History) => {
  const child = h.events?.find((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)?.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
  return child ? child.replace(/-load-[0-9a-f]{8}-\d+$/, '') : `tables-remove-fixture`;
};

beforeAll(installRuntime);

describe('addTable and removeTable replay their histories from before the dbt models step', () => {
  it('addTable: checked, declared, applied, captured, loaded, streaming', async () => {
    const history = await loadHistory('add-table-history.json');
    expect(started(history)?.workflowType?.name).toBe('addTable');
    expect(activityTypes(history)).not.toContain('writeDbtModels');
    await Worker.runReplayHistory({ workflowsPath }, history, workflowIdOf(history));
  }, 60_000);

  it('removeTable with drop: removed from the catalog, applied, dropped', async () => {
    const history = await loadHistory('remove-table-history.json');
    expect(started(history)?.workflowType?.name).toBe('removeTable');
    expect(activityTypes(history)).toEqual(['removeFromCatalog', 'applyCatalogToStack', 'dropTableTargets']);
    await Worker.runReplayHistory({ workflowsPath }, history, workflowIdOf(history));
  }, 60_000);
});
