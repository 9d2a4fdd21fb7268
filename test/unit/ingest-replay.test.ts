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
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('../fixtures/ingest-astronauts-history.json', import.meta.url));
const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));
const changedWorkflowPath = fileURLToPath(new URL('../fixtures/changed-ingest-workflow.ts', import.meta.url));

async function loadHistory(): Promise<proto.temporal.api.history.v1.History> {
  const json = JSON.parse(await readFile(fixture, 'utf8')) as Record<string, unknown>;
  return proto.temporal.api.history.v1.History.fromObject(json);
}

beforeAll(() => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed by another test file in this process
  }
});

describe('ingestAstronauts replay', () => {
  it('the recorded history is a complete successful run', async () => {
    const history = await loadHistory();
    const types = (history.events ?? []).map((e) => e.eventType);
    expect(types.at(-1)).toBe(proto.temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
    const activities = (history.events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    expect(activities).toEqual(['fetchAstronauts', 'validateAstronauts', 'upsertAstronauts']);
  });

  it('replays deterministically against the current workflow code', async () => {
    await Worker.runReplayHistory({ workflowsPath }, await loadHistory(), 'ingest-astronauts-fixture');
  }, 60_000);

  it('fails for a workflow whose steps changed (negative control)', async () => {
    await expect(Worker.runReplayHistory({ workflowsPath: changedWorkflowPath }, await loadHistory(), 'ingest-astronauts-fixture')).rejects.toThrow(
      /[Nn]ondeterminis|[Dd]eterminism/,
    );
  }, 60_000);
});
