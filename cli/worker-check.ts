/**
 * Before a command starts a workflow and waits for it: does the Temporal
 * server answer, and does a worker poll the task queue? If not, the command
 * fails at once (within a few seconds) with a message that names the address,
 * the task queue and the command that starts a worker, instead of waiting for
 * a run that nothing will ever execute.
 *
 * "Polls" means a poller whose last access is recent. DescribeTaskQueue keeps
 * listing a worker for minutes after it stopped, and a live but idle worker
 * renews its entry once per long poll (about a minute on the server's
 * default), so a poller counts when it polled within POLLER_RECENT_MS.
 * A worker that stopped less than that ago still counts: the wait that
 * follows re-checks (see await-workflow.ts) and ends with a timeout.
 */
import { formatAge } from '../shared/duration.ts';
import net from 'node:net';
import { Connection } from '@temporalio/client';

/** Exit status of a command that started nothing because Temporal or a worker is missing. */
export const EXIT_NOT_READY = 5;

/** Longer than the server's long poll (60 s), with room for clock skew between client and server. */
export const POLLER_RECENT_MS = 90_000;

/** Budgets of the steps (TCP, gRPC connect, DescribeTaskQueue): 7 s at worst, so a command ends within 10 s. */
const TCP_TIMEOUT_MS = 2_000;
const CONNECT_TIMEOUT_MS = 3_000;
export const RPC_TIMEOUT_MS = 2_000;

export interface TemporalTarget {
  address: string;
  namespace: string;
  taskQueue: string;
}

/** What DescribeTaskQueue said about one poller, times in ms since the epoch. */
export interface Poller {
  identity: string;
  lastAccessMs: number | undefined;
}

/** The pollers of the queue's two task types: a worker serves both (workflow tasks, activity tasks). */
export interface QueuePollers {
  workflow: Poller[];
  activity: Poller[];
}

export type WorkerVerdict =
  | { ok: true; workers: string[] }
  | { ok: false; missing: 'worker' | 'activity-worker'; lastSeen: { identity: string; ageMs: number } | undefined };

/** A command fails with this when it started nothing; the message is for people, not a stack trace. */
export class TemporalNotReadyError extends Error {
  readonly exitCode = EXIT_NOT_READY;
  override readonly name = 'TemporalNotReadyError';
}

export function isRecent(p: Poller, nowMs: number, recentMs = POLLER_RECENT_MS): boolean {
  // A timestamp ahead of our clock (skew) is recent too.
  return p.lastAccessMs !== undefined && nowMs - p.lastAccessMs <= recentMs;
}

/** Pure: is a worker serving the queue now, and if not, who was seen last and when. */
export function judgePollers(pollers: QueuePollers, nowMs: number, recentMs = POLLER_RECENT_MS): WorkerVerdict {
  const recentWorkflow = pollers.workflow.filter((p) => isRecent(p, nowMs, recentMs));
  const recentActivity = pollers.activity.filter((p) => isRecent(p, nowMs, recentMs));
  if (recentWorkflow.length > 0 && recentActivity.length > 0) {
    return { ok: true, workers: [...new Set(recentWorkflow.map((p) => p.identity))] };
  }
  const missing = recentWorkflow.length > 0 ? 'activity-worker' : 'worker';
  // The last poller of the missing kind (any kind when no worker polls at all).
  const seen = (missing === 'worker' ? [...pollers.workflow, ...pollers.activity] : pollers.activity)
    .filter((p) => p.lastAccessMs !== undefined)
    .sort((a, b) => b.lastAccessMs! - a.lastAccessMs!)[0];
  return { ok: false, missing, lastSeen: seen ? { identity: seen.identity, ageMs: nowMs - seen.lastAccessMs! } : undefined };
}

/** How to start a worker, in each of the ways this repository runs one. */
export function startWorkerHint(taskQueue: string, address: string, then = ', then run this again'): string {
  return [
    `Start a worker for task queue '${taskQueue}' on ${address}${then}:`,
    '  npm run worker                 # in another terminal, with the same TEMPORAL_ADDRESS and TASK_QUEUE',
    '  npm run stack -- up worker     # or the native dev stack\'s worker (task queue astros-ingest)',
    '  docker compose up -d worker    # or, with Docker Compose',
  ].join('\n');
}

/**
 * Pure: the message for a queue nobody (or no activity worker) polls;
 * `consequence` says what that means for this command, `then` what to do after starting one.
 */
export function noWorkerMessage(target: TemporalTarget, verdict: Extract<WorkerVerdict, { ok: false }>, consequence: string, then?: string): string {
  const where = `task queue '${target.taskQueue}' on Temporal ${target.address} (namespace ${target.namespace})`;
  const head =
    verdict.missing === 'activity-worker'
      ? `a worker polls workflow tasks but none polls activity tasks on ${where}, so ${consequence}.`
      : `no worker is polling ${where}, so ${consequence}.`;
  const kind = verdict.missing === 'activity-worker' ? 'activity worker' : 'worker';
  const last = verdict.lastSeen
    ? `The last ${kind} seen there (${verdict.lastSeen.identity}) polled ${formatAge(verdict.lastSeen.ageMs)} ago.`
    : `No ${kind} has polled it in the last ${formatAge(POLLER_RECENT_MS)}.`;
  return `${head}\n${last}\n${startWorkerHint(target.taskQueue, target.address, then)}`;
}

/** Pure: the message for a server that does not answer. */
export function temporalDownMessage(target: Pick<TemporalTarget, 'address'>, reason: string): string {
  return (
    `Temporal is not answering at ${target.address} (${reason}).\n` +
    'Start it with `npm run stack -- up temporal` (or the whole stack: `npm run stack -- up`), ' +
    'or point TEMPORAL_ADDRESS at a running server.'
  );
}

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/** Resolves with undefined when something accepts TCP connections at the address, else with the reason. */
function tcpProbe(address: string, timeoutMs: number): Promise<string | undefined> {
  const { host, port } = splitAddress(address);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (reason: string | undefined) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(timeoutMs, () => done(`no TCP answer within ${timeoutMs / 1000} s`));
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' ? 'connection refused: nothing is listening there' : err.code === 'ENOTFOUND' ? `unknown host ${host}` : err.message),
    );
  });
}

function grpcReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/Failed to connect before the deadline/.test(message)) return `no gRPC answer within ${CONNECT_TIMEOUT_MS / 1000} s: is this Temporal's frontend port?`;
  if (/DEADLINE_EXCEEDED|deadline/i.test(message)) return `no answer within ${RPC_TIMEOUT_MS / 1000} s`;
  return message.replace(/^\d+ [A-Z_]+: /, '');
}

/** Connect to the server; TemporalNotReadyError when it does not answer within a few seconds. */
export async function connectTemporal(target: Pick<TemporalTarget, 'address'>): Promise<Connection> {
  const refused = await tcpProbe(target.address, TCP_TIMEOUT_MS);
  if (refused !== undefined) throw new TemporalNotReadyError(temporalDownMessage(target, refused));
  try {
    return await Connection.connect({ address: target.address, connectTimeout: CONNECT_TIMEOUT_MS });
  } catch (err) {
    throw new TemporalNotReadyError(temporalDownMessage(target, grpcReason(err)));
  }
}

const TASK_QUEUE_TYPE = { workflow: 1, activity: 2 } as const;

/** The queue's pollers, as the server reports them (bounded by a deadline). */
export async function describePollers(connection: Connection, target: TemporalTarget): Promise<QueuePollers> {
  const describe = async (type: number): Promise<Poller[]> => {
    const res = await connection.withDeadline(Date.now() + RPC_TIMEOUT_MS, () =>
      connection.workflowService.describeTaskQueue({ namespace: target.namespace, taskQueue: { name: target.taskQueue }, taskQueueType: type }),
    );
    return (res.pollers ?? []).map((p) => ({
      identity: p.identity ?? '(unnamed)',
      lastAccessMs: p.lastAccessTime ? Number(p.lastAccessTime.seconds ?? 0) * 1000 + Math.floor((p.lastAccessTime.nanos ?? 0) / 1e6) : undefined,
    }));
  };
  const [workflow, activity] = await Promise.all([describe(TASK_QUEUE_TYPE.workflow), describe(TASK_QUEUE_TYPE.activity)]);
  return { workflow, activity };
}

/** Is a worker serving the queue right now? Server errors become TemporalNotReadyError. */
export async function checkWorker(connection: Connection, target: TemporalTarget): Promise<WorkerVerdict> {
  try {
    return judgePollers(await describePollers(connection, target), Date.now());
  } catch (err) {
    const reason = grpcReason(err);
    if (/namespace/i.test(reason) && /not found/i.test(reason)) {
      throw new TemporalNotReadyError(`namespace '${target.namespace}' does not exist on Temporal ${target.address} (set TEMPORAL_NAMESPACE).`);
    }
    throw new TemporalNotReadyError(temporalDownMessage(target, reason));
  }
}

/**
 * For commands that start a workflow: connect, then make sure a worker polls
 * the queue. `ifNoWorker: 'fail'` (commands that wait for the result) throws
 * TemporalNotReadyError; 'warn' (starting a run or a schedule and returning)
 * reports through `warn` and goes on. `consequence` completes "no worker is
 * polling ..., so <consequence>". The caller closes the connection.
 */
export async function connectWithWorker(
  target: TemporalTarget,
  opts: { consequence: string; ifNoWorker: 'fail' | 'warn'; warn?: (message: string) => void },
): Promise<Connection> {
  const connection = await connectTemporal(target);
  try {
    const verdict = await checkWorker(connection, target);
    if (!verdict.ok) {
      const message = noWorkerMessage(target, verdict, opts.consequence, opts.ifNoWorker === 'fail' ? undefined : '');
      if (opts.ifNoWorker === 'fail') throw new TemporalNotReadyError(message);
      opts.warn?.(`warning: ${message}`);
    }
    return connection;
  } catch (err) {
    await connection.close();
    throw err;
  }
}
