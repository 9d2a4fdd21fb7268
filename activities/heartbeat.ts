/**
 * The one heartbeat helper of the long activities (fetchAstronauts,
 * upsertAstronauts, compareTable). Their bodies also run outside an activity
 * (the benchmark, scripts, unit tests): there these calls do nothing.
 */
import { Context } from '@temporalio/activity';

/** Heartbeat if running inside an activity. */
export function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // not in an activity context
  }
}

/** The activity's cancellation signal; undefined outside an activity. */
export function cancellationSignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/** True once the activity has been cancelled; always false outside an activity. */
export function cancelled(): boolean {
  return cancellationSignal()?.aborted ?? false;
}
