/**
 * Every error type name the ingest pipeline raises on purpose, in one place.
 *
 * Activities throw these as non-retryable `ApplicationFailure`s (permanent
 * faults: retrying cannot help). Anything else an activity throws is a plain
 * error and therefore transient: Temporal retries it with the policy declared
 * where the activity is proxied (workflows/ingest-astronauts.ts).
 *
 * This module is imported by workflow code too, so it must stay deterministic:
 * no Node built-ins, no I/O.
 */
import { ApplicationFailure } from '@temporalio/common';

export const IngestErrorType = {
  /** The workflow/activity input is unusable (e.g. a source URL that is not http(s)). */
  InvalidInput: 'InvalidInput',
  /** The source answered 4xx: asking again will not change the answer. */
  SourceClientError: 'SourceClientError',
  /** The response body exceeded the configured bound. */
  PayloadTooLarge: 'PayloadTooLarge',
  /** The body is not JSON. */
  MalformedPayload: 'MalformedPayload',
  /** The body is JSON but the envelope (message, number, people[]) is not the expected shape. */
  InvalidPayload: 'InvalidPayload',
  /** A staged payload referenced by a later step is missing or its checksum changed. */
  StagedPayloadMissing: 'StagedPayloadMissing',
  /** validatePipeline: Postgres and ClickHouse disagree at a caught-up snapshot (rows, values or columns). */
  ValidationMismatch: 'ValidationMismatch',
  /** validatePipeline with failOnLag: ClickHouse had not caught up with the snapshot LSN in time (lag, not corruption). */
  ReplicationLag: 'ReplicationLag',
  /** tables add: the table cannot be captured as it is (missing, no key, unreadable by the CDC role, ...); the message names the fix. */
  TableNotReady: 'TableNotReady',
  /** tables add: the table is already captured; tables remove: it is not. */
  TableAlreadyCaptured: 'TableAlreadyCaptured',
  TableNotCaptured: 'TableNotCaptured',
  /** The connector's replication slot is missing or invalidated: only `npm run recover` brings the stream back (a new slot, the capture gap recorded, every table reloaded). */
  ReplicationSlotLost: 'ReplicationSlotLost',
  /** A schema change ClickHouse's copy cannot take (a key change, a narrowing or incompatible type): the table's stream is stopped; the message names the fix. */
  SchemaChangeRefused: 'SchemaChangeRefused',
  /** validatePipeline of a blocked or dropped table: its changes do not reach ClickHouse, nothing is compared; the message says why. */
  TableStopped: 'TableStopped',
  /** resyncTable: the table's shape in Postgres moved away from its ClickHouse copy while it was being reloaded; nothing was swapped. */
  TableShapeChanged: 'TableShapeChanged',
} as const;

export type IngestErrorType = (typeof IngestErrorType)[keyof typeof IngestErrorType];

/** Listed in every retry policy as well, so a non-retryable type stays non-retryable even if thrown as a plain failure. */
export const nonRetryableErrorTypes: string[] = Object.values(IngestErrorType);

export function permanentFailure(type: IngestErrorType, message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: true,
    details: details === undefined ? [] : [details],
  });
}

/** Migration runner problems (not Temporal failures: the runner is used from CLIs and worker start). */
export class MigrationError extends Error {
  override name = 'MigrationError';
}

/** Environment configuration problems: every problem listed in the message, printed without a stack trace. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}
