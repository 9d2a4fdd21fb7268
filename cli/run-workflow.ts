/**
 * Starting a workflow from the command line, once: under a fixed workflow id
 * a second run is never started while one is open (conflict policy FAIL) —
 * the command attaches to the open run instead; a closed id may be reused
 * (ALLOW_DUPLICATE), so the next command starts a fresh run. Every command
 * that runs a workflow (ingest, validate, tables, resync, recover) starts it
 * here.
 */
import { Client, type Connection, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { loadConfigOrExit, type Config } from '../config/load.ts';
import { awaitWorkflow } from './await-workflow.ts';
import { connectWithWorker } from './worker-check.ts';

export interface Started<H extends WorkflowHandle = WorkflowHandle> {
  handle: H;
  runId: string;
  /** False when a run with this workflow id was already open and we attached to it instead. */
  started: boolean;
}

/** Start `type` under `workflowId`, or attach to the run of that id that is open. */
export async function startOrAttach<H extends WorkflowHandle = WorkflowHandle>(client: Client, type: string, opts: { workflowId: string; taskQueue: string; args: unknown[] }): Promise<Started<H>> {
  try {
    const handle = await client.workflow.start(type, {
      taskQueue: opts.taskQueue,
      workflowId: opts.workflowId,
      args: opts.args,
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    return { handle: handle as unknown as H, runId: handle.firstExecutionRunId, started: true };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const { runId } = await client.workflow.getHandle(opts.workflowId).describe();
    return { handle: client.workflow.getHandle(opts.workflowId, runId) as unknown as H, runId, started: false };
  }
}

/** The innermost failure's message (TableNotReady and friends are one line naming the fix). */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

/**
 * Check that a worker polls (exit 5 when not), start the workflow or attach to the open run, and wait
 * with progress every 10 s (`detail` adds the workflow's own) up to `timeoutMs` (exit 6; the run goes on).
 * A failed run throws its innermost failure's message.
 */
export async function runWorkflow<T>(
  type: string,
  workflowId: string,
  input: unknown,
  timeoutMs: number,
  log: (m: string) => void,
  detail?: (handle: WorkflowHandle, elapsedMs: number) => Promise<string | undefined>,
): Promise<{ result: T; cfg: Config }> {
  const cfg = loadConfigOrExit();
  const connection: Connection = await connectWithWorker(cfg.temporal, { ifNoWorker: 'fail', consequence: `${type} would never complete` });
  try {
    const client = new Client({ connection, namespace: cfg.temporal.namespace });
    const { handle, runId, started } = await startOrAttach(client, type, { workflowId, taskQueue: cfg.temporal.taskQueue, args: [input] });
    log(started ? `started ${type} ${workflowId} on task queue ${cfg.temporal.taskQueue}` : `${workflowId} is already running (run ${runId}): attached to it`);
    try {
      const t0 = Date.now();
      const result = await awaitWorkflow<T>({
        connection,
        handle,
        runId,
        workflowType: type,
        target: cfg.temporal,
        uiUrl: cfg.temporal.uiUrl,
        timeoutMs,
        log,
        afterTimeout: 'Run the same command again to attach to it.',
        ...(detail ? { detail: () => detail(handle, Date.now() - t0) } : {}),
      });
      return { result, cfg };
    } catch (err) {
      if (err instanceof WorkflowFailedError) throw new Error(failureMessage(err), { cause: err });
      throw err;
    }
  } finally {
    await connection.close();
  }
}
