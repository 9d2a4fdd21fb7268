/**
 * Replays histories of the schema-change workflows recorded with the code
 * before tables were applied side by side and changes folded into a running
 * reload (test/fixtures/schema-change-*-history.json: a watchSchemaChanges run
 * in flight after one change, and an applyTableSchemaChange that reloaded its
 * table) against the current workflow code.
 *
 * If this fails, a change to workflows/schema-changes.ts is not guarded by
 * patched(): runs in flight when the new worker is deployed would fail with
 * a determinism error.
 */
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { installRuntime, loadHistory, workflowsPath, type History } from './replay.ts';

const eventTypes = (h: History) => (h.events ?? []).map((e) => proto.temporal.api.enums.v1.EventType[e.eventType ?? 0]);

beforeAll(installRuntime);

describe('schema-change workflows replay their histories from before per-table application', () => {
  it('watchSchemaChanges in flight: a poll, one child applied, more polls', async () => {
    const history = await loadHistory('schema-change-watch-history.json');
    expect(eventTypes(history)).toEqual(expect.arrayContaining(['EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED', 'EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED', 'EVENT_TYPE_TIMER_FIRED']));
    await Worker.runReplayHistory({ workflowsPath }, history, 'schema-changes-watch-fixture');
  }, 60_000);

  it('applyTableSchemaChange of a change that reloaded its table', async () => {
    const history = await loadHistory('schema-change-apply-history.json');
    expect(eventTypes(history).at(-1)).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED');
    // Its child's id is made from its own: the recorded one (schema-change-<log id>).
    const reload = history.events?.find((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)?.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? '';
    await Worker.runReplayHistory({ workflowsPath }, history, reload.replace(/-reload$/, ''));
  }, 60_000);
});
