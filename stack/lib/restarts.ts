/**
 * The supervisor's record of the restarts it made, per component:
 * `<state>/restarts.json`. Written by the supervisor alone (whole, by rename);
 * read by `stack status` and the monitor (`astros_component_restarts_total`).
 * A full `stack down` removes it, so counts start again with the stack.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface RestartEntry {
  /** Processes the supervisor started for this component after it exited unexpectedly. */
  restarts: number;
  /** When it last found the component gone. */
  lastCrashAt?: string;
  /** Why the latest restart failed (first line), until one succeeds. */
  lastError?: string;
}

export type RestartRecord = Record<string, RestartEntry>;

export const restartsFile = (stateDir: string): string => path.join(stateDir, 'restarts.json');

export function readRestarts(stateDir: string): RestartRecord {
  try {
    return JSON.parse(fs.readFileSync(restartsFile(stateDir), 'utf8')) as RestartRecord;
  } catch {
    return {};
  }
}

export function writeRestarts(stateDir: string, record: RestartRecord): void {
  const file = restartsFile(stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(record, null, 2));
  fs.renameSync(tmp, file);
}

export function clearRestarts(stateDir: string): void {
  fs.rmSync(restartsFile(stateDir), { force: true });
}
