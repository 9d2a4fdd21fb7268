/**
 * Waiting for a workflow's result from the command line without hanging: a
 * progress line on stderr every PROGRESS_EVERY_MS (what it waits for, how
 * long, the run's pending activities, whether a worker still polls, the Web
 * UI link), and a deadline after which the command gives up with
 * EXIT_TIMEOUT. Giving up does not cancel the run.
 */
import type { Connection, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { InvalidArgumentError, Option } from 'commander';
import { durationMs, formatAge } from '../shared/duration.ts';
import { checkWorker, RPC_TIMEOUT_MS, startWorkerHint, type TemporalTarget } from './worker-check.ts';

/** Exit status of a command that stopped waiting at its --timeout (the run goes on). */
export const EXIT_TIMEOUT = 6;

export const PROGRESS_EVERY_MS = 10_000;

/** --timeout when none is given: longer than a healthy ingest or validation, short enough to notice a stuck one. */
export const DEFAULT_TIMEOUT = '10m';

export class WaitTimeoutError extends Error {
  readonly exitCode = EXIT_TIMEOUT;
  override readonly name = 'WaitTimeoutError';
}

/** `500ms`, `30s`, `10m`, `1h`, `1d` -> milliseconds; undefined when the text is not such a duration. */
export function parseDuration(text: string): number | undefined {
  return durationMs(text);
}

/** `--timeout <duration>`, parsed to milliseconds. */
export function timeoutOption(): Option {
  return new Option('--timeout <duration>', `stop waiting after this long (30s, 10m, 1h) and exit ${EXIT_TIMEOUT}; the run goes on`)
    .default(parseDuration(DEFAULT_TIMEOUT), DEFAULT_TIMEOUT)
    .argParser((raw: string) => {
      const ms = parseDuration(raw);
      if (ms === undefined) throw new InvalidArgumentError('expected a duration such as 30s, 10m, 1h');
      return ms;
    });
}

/** The run's page in the Temporal Web UI. */
export function workflowUrl(uiUrl: string, namespace: string, workflowId: string, runId: string): string {
  return `${uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/history`;
}

/** What a progress line reports about the run. */
export interface RunState {
  status: string;
  pendingActivities: { name: string; attempt: number; lastFailure?: string; step?: string }[];
  /** False when no worker has polled the task queue recently; undefined when that could not be checked. */
  workerPolling: boolean | undefined;
}

export interface WaitDescription {
  workflowType: string;
  workflowId: string;
  runId: string;
  taskQueue: string;
  address: string;
  link: string;
}

/** Pure: one progress line. */
export function progressLine(w: WaitDescription, elapsedMs: number, timeoutMs: number, state: RunState | undefined): string {
  const parts = [`waiting for ${w.workflowType} ${w.workflowId}: ${formatAge(elapsedMs)} of at most ${formatAge(timeoutMs)}`];
  if (state) {
    parts.push(`status ${state.status}`);
    for (const a of state.pendingActivities) {
      parts.push(`activity ${a.name} attempt ${a.attempt}${a.step ? ` (${a.step})` : ''}${a.lastFailure ? ` (last failure: ${a.lastFailure})` : ''}`);
    }
    if (state.workerPolling === false) {
      parts.push(`no worker is polling task queue '${w.taskQueue}' any more (start one: npm run worker)`);
    }
  } else {
    parts.push('state unknown (Temporal did not answer)');
  }
  return `${parts.join('; ')}; ${w.link}`;
}

/** Pure: the message when the deadline passes. */
export function timeoutMessage(w: WaitDescription, timeoutMs: number, state: RunState | undefined, afterTimeout: string): string {
  const lines = [
    `gave up waiting after ${formatAge(timeoutMs)} (--timeout): ${w.workflowType} ${w.workflowId} (run ${w.runId}) is ${state ? `still ${state.status}` : 'in an unknown state'} on task queue '${w.taskQueue}'; it was not cancelled.`,
    `Follow it in the Temporal Web UI: ${w.link}`,
  ];
  if (state?.workerPolling === false) lines.push(startWorkerHint(w.taskQueue, w.address, ''));
  if (afterTimeout) lines.push(afterTimeout);
  return lines.join('\n');
}

/**
 * The timing core: race `result` against `timeoutMs`, logging `progress()`
 * every `everyMs`. On timeout `result`'s signal is aborted and the promise
 * rejects with WaitTimeoutError(await onTimeout()).
 */
export async function waitWithProgress<T>(opts: {
  result: (signal: AbortSignal) => Promise<T>;
  timeoutMs: number;
  everyMs: number;
  progress: (elapsedMs: number) => Promise<string>;
  onTimeout: () => Promise<string>;
  log: (line: string) => void;
}): Promise<T> {
  const started = Date.now();
  const abort = new AbortController();
  let stopped = false;
  let ticker: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;

  const tick = async () => {
    try {
      const line = await opts.progress(Date.now() - started);
      if (!stopped) opts.log(line);
    } catch (err) {
      if (!stopped) opts.log(`still waiting (${formatAge(Date.now() - started)}); progress check failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!stopped) ticker = setTimeout(() => void tick(), opts.everyMs);
  };

  const result = opts.result(abort.signal);
  const timedOut = new Promise<never>((_, reject) => {
    deadline = setTimeout(() => {
      stopped = true;
      opts.onTimeout().then(
        (message) => reject(new WaitTimeoutError(message)),
        (err: unknown) => reject(new WaitTimeoutError(`gave up waiting after ${formatAge(opts.timeoutMs)} (--timeout): ${String(err)}`)),
      );
    }, opts.timeoutMs);
  });
  ticker = setTimeout(() => void tick(), opts.everyMs);
  try {
    return await Promise.race([result, timedOut]);
  } finally {
    stopped = true;
    clearTimeout(ticker);
    clearTimeout(deadline);
    abort.abort();
    // The aborted wait rejects; nobody is listening any more.
    result.catch(() => undefined);
  }
}

/** The `step` an activity last heartbeated ({ step: '...' }), shown in the progress line. */
function heartbeatStep(payload: Parameters<typeof defaultPayloadConverter.fromPayload>[0] | undefined): { step?: string } {
  if (!payload) return {};
  try {
    const d = defaultPayloadConverter.fromPayload<unknown>(payload);
    return d && typeof d === 'object' && 'step' in d && typeof d.step === 'string' ? { step: d.step } : {};
  } catch {
    return {};
  }
}

async function runState(connection: Connection, handle: WorkflowHandle, target: TemporalTarget): Promise<RunState | undefined> {
  try {
    const [description, worker] = await Promise.all([
      connection.withDeadline(Date.now() + RPC_TIMEOUT_MS, () => handle.describe()),
      checkWorker(connection, target).then(
        (v) => v.ok,
        () => undefined,
      ),
    ]);
    return {
      status: description.status.name,
      pendingActivities: (description.raw.pendingActivities ?? []).map((a) => ({
        name: a.activityType?.name ?? '?',
        attempt: a.attempt ?? 1,
        ...(a.lastFailure?.message ? { lastFailure: a.lastFailure.message } : {}),
        ...heartbeatStep(a.heartbeatDetails?.payloads?.[0]),
      })),
      workerPolling: worker,
    };
  } catch {
    return undefined;
  }
}

/**
 * Wait for the run's result with progress lines on `log` and a deadline.
 * `afterTimeout` is added to the timeout message (e.g. how to attach again).
 */
export async function awaitWorkflow<T>(opts: {
  connection: Connection;
  handle: WorkflowHandle;
  runId: string;
  workflowType: string;
  target: TemporalTarget;
  uiUrl: string;
  timeoutMs: number;
  afterTimeout?: string;
  log: (line: string) => void;
  everyMs?: number;
  /** What the workflow itself says of its progress (a query), put first on each progress line. */
  detail?: () => Promise<string | undefined>;
}): Promise<T> {
  const w: WaitDescription = {
    workflowType: opts.workflowType,
    workflowId: opts.handle.workflowId,
    runId: opts.runId,
    taskQueue: opts.target.taskQueue,
    address: opts.target.address,
    link: workflowUrl(opts.uiUrl, opts.target.namespace, opts.handle.workflowId, opts.runId),
  };
  opts.log(`waiting for ${w.workflowType} ${w.workflowId} (at most ${formatAge(opts.timeoutMs)}, --timeout); Web UI: ${w.link}`);
  return waitWithProgress<T>({
    result: (signal) => opts.connection.withAbortSignal(signal, () => opts.handle.result() as Promise<T>),
    timeoutMs: opts.timeoutMs,
    everyMs: opts.everyMs ?? PROGRESS_EVERY_MS,
    progress: async (elapsedMs) => {
      const line = progressLine(w, elapsedMs, opts.timeoutMs, await runState(opts.connection, opts.handle, opts.target));
      const detail = await opts.detail?.().catch(() => undefined);
      return detail ? `${detail}; ${line}` : line;
    },
    onTimeout: async () => timeoutMessage(w, opts.timeoutMs, await runState(opts.connection, opts.handle, opts.target), opts.afterTimeout ?? ''),
    log: opts.log,
  });
}
