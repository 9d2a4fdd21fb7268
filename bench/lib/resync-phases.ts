/**
 * Where a resyncTable run spent its time, from its Temporal history: each
 * activity type's span (first scheduled -> last completed, retries and
 * queueing included) and the sum of its attempts' own run times (started ->
 * completed; ranges run in parallel, so the sum exceeds the span).
 * The result carries no timings; the history has every one.
 */
import type { WorkflowHandle } from '@temporalio/client';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

/** The few fields of a history event the phases need. */
export interface PhaseEvent {
  id: number;
  ms: number;
  /** ActivityTaskScheduled: the activity type */
  scheduled?: string;
  /** ActivityTaskStarted / ActivityTaskCompleted: the scheduling event's id */
  started?: number;
  completed?: number;
}

export interface Phase {
  /** first scheduled -> last completed, ms */
  spanMs: number;
  /** sum of started -> completed of the completed attempts, ms */
  busyMs: number;
  count: number;
}

export type ResyncPhases = Partial<Record<'prepareResync' | 'loadResyncRange' | 'swapResync' | 'completeResync', Phase>> & {
  /** WorkflowExecutionStarted -> the last event, ms (the server's clock) */
  workflowMs: number;
};

export function resyncPhases(events: PhaseEvent[]): ResyncPhases {
  const byId = new Map<number, { type: string; scheduledMs: number; startedMs?: number; completedMs?: number }>();
  for (const e of events) {
    if (e.scheduled !== undefined) byId.set(e.id, { type: e.scheduled, scheduledMs: e.ms });
    if (e.started !== undefined) {
      const a = byId.get(e.started);
      if (a) a.startedMs = e.ms;
    }
    if (e.completed !== undefined) {
      const a = byId.get(e.completed);
      if (a) a.completedMs = e.ms;
    }
  }
  const out: ResyncPhases = { workflowMs: events.length ? events[events.length - 1]!.ms - events[0]!.ms : 0 };
  for (const type of ['prepareResync', 'loadResyncRange', 'swapResync', 'completeResync'] as const) {
    const xs = [...byId.values()].filter((a) => a.type === type && a.completedMs !== undefined);
    if (xs.length === 0) continue;
    out[type] = {
      spanMs: Math.max(...xs.map((a) => a.completedMs!)) - Math.min(...xs.map((a) => a.scheduledMs)),
      busyMs: xs.reduce((s, a) => s + (a.completedMs! - (a.startedMs ?? a.scheduledMs)), 0),
      count: xs.length,
    };
  }
  return out;
}

/** A Long, number or string (the proto's int64 fields) as a number. */
const num = (x: unknown): number => Number(String(x ?? 0));

/** The proto history's events, reduced to what resyncPhases reads. */
export function phaseEvents(history: History): PhaseEvent[] {
  return (history.events ?? []).map((e) => ({
    id: num(e.eventId),
    ms: num(e.eventTime?.seconds) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6,
    ...(e.activityTaskScheduledEventAttributes?.activityType?.name ? { scheduled: e.activityTaskScheduledEventAttributes.activityType.name } : {}),
    ...(e.activityTaskStartedEventAttributes ? { started: num(e.activityTaskStartedEventAttributes.scheduledEventId) } : {}),
    ...(e.activityTaskCompletedEventAttributes ? { completed: num(e.activityTaskCompletedEventAttributes.scheduledEventId) } : {}),
  }));
}
