/**
 * The ingest's activities (workflow ingestAstronauts). Each is idempotent:
 *  - fetchAstronauts stages the body under this run's payload id (a retry replaces it);
 *  - validateAstronauts runs the payload checks and only reads (and dead-letters an unusable payload once per run key);
 *  - upsertAstronauts is keyed by the run key recorded in `ingest_runs`.
 * Only small references and counts cross into workflow history, never the people list.
 */
import { ApplicationFailure } from '@temporalio/common';
import { fetchSource } from '../connectors/astronauts-api/client.ts';
import type { IngestCounts, IngestStatus } from '../shared/workflows.ts';
import type { ActivityDeps } from './deps.ts';
import { cancellationSignal, heartbeat } from './heartbeat.ts';
import { applySnapshot, loadPayload, rejectPayload, stagePayload, type StagedPayload } from './ingest-store.ts';
import { checkPayload, decodeBody, parseJson, type CheckedPayload } from './payload-checks.ts';
import { snapshotOf } from './transform.ts';

export interface FetchInput {
  sourceUrl?: string;
  /** Where the body is staged; the workflow passes its own run id. */
  payloadId: string;
}

export interface FetchResult extends StagedPayload {
  httpAttempts: number;
  retriedErrors: string[];
}

export interface ValidateAstronautsInput {
  runKey: string;
  payload: StagedPayload;
}

export interface ValidateAstronautsResult {
  fetched: number;
  declaredNumber: number;
  numberMismatch: boolean;
  valid: number;
  invalid: number;
  duplicates: number;
  /** The first few reasons, for the Web UI; all of them are dead-lettered. */
  sampleReasons: string[];
}

export interface UpsertInput {
  runKey: string;
  workflowId: string;
  workflowRunId: string;
  payload: StagedPayload;
  httpAttempts: number;
}

export interface UpsertResult extends IngestCounts {
  status: IngestStatus;
  /**
   * True when the table written is captured by CDC (in a publication), so a
   * validation of Postgres against ClickHouse is meaningful after this run.
   */
  captured?: boolean;
}

export function createIngestActivities(deps: Pick<ActivityDeps, 'pool' | 'source'>) {
  /** Parse + payload checks + transform; a payload that is unusable as a whole is dead-lettered and fails permanently. */
  async function readSnapshot(runKey: string, payload: StagedPayload) {
    const { text: body } = decodeBody(await loadPayload(deps.pool, payload));
    let checked: CheckedPayload;
    try {
      checked = checkPayload(parseJson(body, payload.contentType), { maxPeople: deps.source.maxPeople });
    } catch (err) {
      if (err instanceof ApplicationFailure) await rejectPayload(deps.pool, { runKey, reason: `${err.type}: ${err.message}`, body });
      throw err;
    }
    return { checked, ...snapshotOf(checked) };
  }

  return {
    async fetchAstronauts(input: FetchInput): Promise<FetchResult> {
      const sourceUrl = input.sourceUrl ?? deps.source.url;
      const signal = cancellationSignal();
      const response = await fetchSource(
        { ...deps.source, url: sourceUrl },
        { onProgress: (p) => heartbeat(p), ...(signal ? { signal } : {}) },
      );
      const staged = await stagePayload(deps.pool, { payloadId: input.payloadId, sourceUrl, body: response.body });
      return {
        ...staged,
        ...(response.contentType !== undefined ? { contentType: response.contentType } : {}),
        httpAttempts: response.attempts,
        retriedErrors: response.retriedErrors,
      };
    },

    async validateAstronauts(input: ValidateAstronautsInput): Promise<ValidateAstronautsResult> {
      const { checked, duplicates, invalid, apply } = await readSnapshot(input.runKey, input.payload);
      const { people, rejects } = apply;
      return {
        fetched: checked.listed,
        declaredNumber: checked.declaredNumber,
        numberMismatch: checked.numberMismatch,
        valid: people.length,
        invalid: invalid.length,
        duplicates: duplicates.length,
        sampleReasons: rejects.slice(0, 5).map((r) => `people[${r.index}]: ${r.reason}`),
      };
    },

    async upsertAstronauts(input: UpsertInput): Promise<UpsertResult> {
      const { checked, apply } = await readSnapshot(input.runKey, input.payload);
      const result = await applySnapshot(
        deps.pool,
        {
          runKey: input.runKey,
          workflowId: input.workflowId,
          workflowRunId: input.workflowRunId,
          payload: input.payload,
          httpAttempts: input.httpAttempts,
          ...apply,
        },
        (step) => heartbeat({ step }),
      );
      const { rows } = await deps.pool.query<{ captured: boolean }>(
        `select exists (select 1 from pg_publication_tables where schemaname = current_schema() and tablename = 'astronauts') as captured`,
      );
      return {
        ...result,
        fetched: checked.listed,
        declaredNumber: checked.declaredNumber,
        numberMismatch: checked.numberMismatch,
        captured: rows[0]?.captured === true,
      };
    },
  };
}

