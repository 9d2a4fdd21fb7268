/**
 * Client-side operations shared by the CLI and the tests: start (or attach
 * to) an ingest run without ever overlapping, and create-or-update the
 * Temporal Schedule.
 */
import {
  type Client,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type ScheduleOptions,
  type WorkflowHandle,
} from '@temporalio/client';
import type { ingestAstronauts } from '../workflows/index.ts';
import { startOrAttach, type Started } from './run-workflow.ts';
import { INGEST_WORKFLOW_ID, INGEST_WORKFLOW_TYPE, type IngestAstronautsInput } from '../shared/workflows.ts';

export interface StartIngestOptions {
  taskQueue: string;
  workflowId?: string;
  input?: IngestAstronautsInput;
}

/** Start ingestAstronauts under its fixed workflow id, or attach to the open run (run-workflow.ts): runs never overlap. */
export function startOrAttachIngest(client: Client, opts: StartIngestOptions): Promise<Started<WorkflowHandle<typeof ingestAstronauts>>> {
  return startOrAttach(client, INGEST_WORKFLOW_TYPE, { workflowId: opts.workflowId ?? INGEST_WORKFLOW_ID, taskQueue: opts.taskQueue, args: [opts.input ?? {}] });
}

export interface ScheduleIngestOptions {
  scheduleId: string;
  taskQueue: string;
  interval: string;
  /** The started workflow's input (an ingest's, or that of the workflow named by workflowType). */
  input?: IngestAstronautsInput | object;
  paused?: boolean;
  /** The workflow each tick starts (default ingestAstronauts; validatePipeline has a schedule of its own). */
  workflowType?: string;
  /** Prefix of the started runs' ids (Temporal appends the tick time). */
  workflowId?: string;
}

/**
 * Create the schedule, or update it in place if it exists (idempotent). Each
 * action starts ingestAstronauts with workflow id `<INGEST_WORKFLOW_ID>-<time>`;
 * overlap policy SKIP: a tick while the previous run is still open is skipped.
 */
export async function upsertIngestSchedule(client: Client, opts: ScheduleIngestOptions): Promise<'created' | 'updated'> {
  const definition = {
    spec: { intervals: [{ every: opts.interval }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: opts.workflowType ?? INGEST_WORKFLOW_TYPE,
      workflowId: opts.workflowId ?? INGEST_WORKFLOW_ID,
      taskQueue: opts.taskQueue,
      args: [opts.input ?? {}],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m', pauseOnFailure: false },
  } satisfies Omit<ScheduleOptions, 'scheduleId'>;
  try {
    await client.schedule.create({
      scheduleId: opts.scheduleId,
      ...definition,
      state: { paused: opts.paused ?? false, note: `astros ${opts.workflowType ?? INGEST_WORKFLOW_TYPE} (created by astros schedule)` },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(opts.scheduleId);
  await handle.update((previous) => ({
    ...previous,
    ...definition,
    state: { ...previous.state, paused: opts.paused ?? previous.state.paused },
  }));
  return 'updated';
}

export async function deleteIngestSchedule(client: Client, scheduleId: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(scheduleId).delete();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}
