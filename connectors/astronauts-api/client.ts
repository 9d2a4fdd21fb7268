/**
 * The astronauts-in-space HTTP source (open-notify's astros.json or the local simulator).
 *
 * Retries happen at two levels on purpose:
 *  - here, with p-retry and a short exponential backoff: 5xx, 408/429,
 *    connection resets/refusals and timeouts are retried a few times within
 *    one activity attempt (cheap, fast recovery from a blip);
 *  - Temporal's activity retry policy on top, when a whole attempt fails.
 * Other 4xx answers are permanent (SourceClientError, not retried at all),
 * and so is a body larger than the configured bound (PayloadTooLarge).
 */
import got, { CancelError, HTTPError, RequestError } from 'got';
import pRetry from 'p-retry';
import type { Config } from '../../config/load.ts';
import { IngestErrorType, permanentFailure } from '../../shared/errors.ts';

/** How the feed is fetched: the configuration's source settings (config/load.ts) but the people bound, which the payload checks apply. */
export type SourceOptions = Omit<Config['source'], 'maxPeople'>;

export interface SourceProgress {
  attempt: number;
  bytes: number;
  lastError?: string;
}

export interface SourceResponse {
  body: Buffer;
  statusCode: number;
  /** The Content-Type header as sent (not trusted: the body is parsed as JSON whatever it says). */
  contentType?: string;
  /** HTTP requests made, including the successful one. */
  attempts: number;
  /** One line per failed attempt, oldest first (kept short: at most 20). */
  retriedErrors: string[];
}

/** Whether a failed request is worth repeating. Exported for unit tests. */
export function isTransient(error: unknown): boolean {
  if (error instanceof HTTPError) {
    const status = error.response.statusCode;
    return status >= 500 || status === 408 || status === 429;
  }
  if (error instanceof CancelError) return false;
  // Timeouts, resets, refused connections, DNS hiccups, truncated bodies: all RequestErrors without a response.
  return error instanceof RequestError;
}

export function describeError(error: unknown): string {
  if (error instanceof HTTPError) return `HTTP ${error.response.statusCode} ${error.response.statusMessage ?? ''}`.trim();
  if (error instanceof RequestError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export function assertHttpUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw permanentFailure(IngestErrorType.InvalidInput, `source URL ${JSON.stringify(url)} is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw permanentFailure(IngestErrorType.InvalidInput, `source URL ${url} must use http or https`);
  }
  return parsed;
}

export async function fetchSource(
  opts: SourceOptions,
  hooks: { onProgress?: (p: SourceProgress) => void; signal?: AbortSignal } = {},
): Promise<SourceResponse> {
  const url = assertHttpUrl(opts.url);
  const retriedErrors: string[] = [];
  let attempt = 0;

  const once = async (): Promise<SourceResponse> => {
    attempt += 1;
    let tooLarge: number | undefined;
    hooks.onProgress?.({ attempt, bytes: 0, ...(retriedErrors.length > 0 ? { lastError: retriedErrors.at(-1) } : {}) });
    const request = got(url, {
      responseType: 'buffer',
      // Retries are ours (p-retry below), not got's.
      retry: { limit: 0 },
      // Bounding the body is only meaningful on the bytes we actually hold: no transparent gzip.
      decompress: false,
      timeout: {
        connect: opts.connectTimeoutMs,
        response: opts.responseTimeoutMs,
        socket: opts.responseTimeoutMs,
      },
      headers: { accept: 'application/json', 'user-agent': 'astros-cdc-ingest' },
      ...(hooks.signal ? { signal: hooks.signal } : {}),
    });
    void request.on('response', (res: { headers: Record<string, string | string[] | undefined> }) => {
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > opts.maxBodyBytes) {
        tooLarge = declared;
        request.cancel();
      }
    });
    void request.on('downloadProgress', (p: { transferred: number }) => {
      if (p.transferred > opts.maxBodyBytes) {
        tooLarge = p.transferred;
        request.cancel();
        return;
      }
      hooks.onProgress?.({ attempt, bytes: p.transferred });
    });
    try {
      const response = await request;
      if (response.body.length > opts.maxBodyBytes) tooLarge = response.body.length;
      if (tooLarge === undefined) {
        const contentType = response.headers['content-type'];
        return {
          body: response.body,
          statusCode: response.statusCode,
          ...(contentType !== undefined ? { contentType } : {}),
          attempts: attempt,
          retriedErrors: [...retriedErrors],
        };
      }
    } catch (err) {
      if (tooLarge === undefined) throw err;
    }
    throw permanentFailure(
      IngestErrorType.PayloadTooLarge,
      `source body is larger than ASTROS_HTTP_MAX_BODY_BYTES=${opts.maxBodyBytes} (at least ${tooLarge} bytes)`,
    );
  };

  try {
    return await pRetry(once, {
      retries: opts.retries,
      minTimeout: opts.retryMinDelayMs,
      maxTimeout: 10_000,
      factor: 2,
      randomize: false,
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      shouldRetry: ({ error }) => isTransient(error),
      onFailedAttempt: ({ error }) => {
        if (retriedErrors.length < 20) retriedErrors.push(`attempt ${attempt}: ${describeError(error)}`);
      },
    });
  } catch (err) {
    if (err instanceof HTTPError && !isTransient(err)) {
      throw permanentFailure(IngestErrorType.SourceClientError, `source answered ${describeError(err)} for ${opts.url}`, {
        statusCode: err.response.statusCode,
      });
    }
    if (isTransient(err)) {
      // A plain error: Temporal retries the activity with the policy declared in the workflow.
      throw new Error(`source ${opts.url} failed after ${attempt} attempt(s): ${retriedErrors.join('; ')}`, { cause: err });
    }
    throw err;
  }
}
