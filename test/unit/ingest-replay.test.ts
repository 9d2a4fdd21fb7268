/**
 * Replays a recorded ingestAstronauts history (test/fixtures/ingest-astronauts-history.json,
 * recorded by test/integration/ingest.test.ts with RECORD_FIXTURES=1) against
 * the current workflow code.
 *
 * If this fails, the workflow change is not replay-compatible: runs that are
 * in flight when the new worker is deployed would fail with a determinism
 * error. Use patched() / a new workflow type instead, or re-record the fixture
 * only if no old runs can still be open.
 */
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { installRuntime, loadHistory, workflowsPath } from './replay.ts';

const changedWorkflowPath = fileURLToPath(new URL('../fixtures/changed-ingest-workflow.ts', import.meta.url));

const loadIngestHistory = () => loadHistory('ingest-astronauts-history.json');

beforeAll(installRuntime);

describe('ingestAstronauts replay', () => {
  it('the recorded history is a complete successful run', async () => {
    const history = await loadIngestHistory();
    const types = (history.events ?? []).map((e) => e.eventType);
    expect(types.at(-1)).toBe(proto.temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
    const activities = (history.events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    expect(activities).toEqual(['fetchAstronauts', 'validateAstronauts', 'upsertAstronauts']);
  });

  it('replays deterministically against the current workflow code', async () => {
    await Worker.runReplayHistory({ workflowsPath }, await loadIngestHistory(), 'ingest-astronauts-fixture');
  }, 60_000);

  it('fails for a workflow whose steps changed (negative control)', async () => {
    await expect(Worker.runReplayHistory({ workflowsPath: changedWorkflowPath }, await loadIngestHistory(), 'ingest-astronauts-fixture')).rejects.toThrow(
      /[Nn]ondeterminis|[Dd]eterminism/,
    );
  }, 60_000);
});
