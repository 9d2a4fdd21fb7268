/**
 * ClickHouse HTTP sessions (`session_id`), emulated with one chDB connection
 * per session: `SET`, `USE` and temporary tables persist across the
 * session's requests exactly because they are connection state.
 *
 * Deviations from a server, kept on purpose:
 * - Concurrent requests in one session are queued, not refused with
 *   SESSION_IS_LOCKED (373).
 * - Settings, `database` and `param_*` given as URL parameters on a session
 *   request are applied with `SET`/`USE`, so they persist for the rest of the
 *   session (a server scopes them to the one query).
 */
import type { Session } from 'chdb';
import { httpError } from './errors.ts';

/** ClickHouse's `default_session_timeout` and `max_session_timeout`, in seconds. */
const defaultTimeoutSeconds = 60;
const maxTimeoutSeconds = 3600;

interface Entry {
  conn: Session;
  timeoutMs: number;
  timer: NodeJS.Timeout | undefined;
  tail: Promise<unknown>;
  busy: number;
}

export class SessionRegistry {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly connect: () => Session) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * Run `work` on the session's connection, after any earlier request of the
   * same session finished. Creates the session unless `check` is set.
   */
  async run<T>(
    id: string,
    opts: { timeoutSeconds?: string | undefined; check: boolean; close: boolean },
    work: (conn: Session, fresh: boolean) => Promise<T>,
  ): Promise<T> {
    const timeoutMs = parseTimeout(opts.timeoutSeconds) * 1000;
    let entry = this.entries.get(id);
    let fresh = false;
    if (!entry) {
      if (opts.check) throw httpError('SESSION_NOT_FOUND', `Session ${id} not found`);
      entry = { conn: this.connect(), timeoutMs, timer: undefined, tail: Promise.resolve(), busy: 0 };
      this.entries.set(id, entry);
      fresh = true;
    }
    entry.timeoutMs = timeoutMs;
    const current = entry;
    if (current.timer) clearTimeout(current.timer);
    current.timer = undefined;
    current.busy++;
    const result = current.tail.then(() => work(current.conn, fresh));
    current.tail = result.catch(() => undefined);
    try {
      return await result;
    } finally {
      current.busy--;
      if (opts.close) this.drop(id);
      else if (current.busy === 0 && this.entries.get(id) === current) {
        current.timer = setTimeout(() => this.drop(id), current.timeoutMs);
        current.timer.unref();
      }
    }
  }

  private drop(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    if (entry.timer) clearTimeout(entry.timer);
    // Close after queued work finished; close() itself defers behind running native ops.
    void entry.tail.then(() => entry.conn.close());
  }

  closeAll(): void {
    for (const id of [...this.entries.keys()]) this.drop(id);
  }
}

function parseTimeout(raw: string | undefined): number {
  if (raw === undefined || raw === '') return defaultTimeoutSeconds;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw httpError('BAD_ARGUMENTS', `Invalid session timeout: '${raw}'`);
  if (n > maxTimeoutSeconds) {
    throw httpError('BAD_ARGUMENTS', `Session timeout '${raw}' is larger than max_session_timeout: ${maxTimeoutSeconds}`);
  }
  return n;
}
