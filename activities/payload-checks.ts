/**
 * Payload checks: is the astros.json feed usable? (pure logic, no I/O;
 * not to be confused with pipeline validation, which compares Postgres with
 * ClickHouse: activities/validation/).
 *
 * Two levels, so that one bad record never sinks a whole fetch:
 *  - the envelope (`message`, `number`, `people` being an array) must hold,
 *    otherwise the payload as a whole is unusable (non-retryable failure);
 *  - each element of `people` is checked on its own; an invalid element is
 *    rejected with its reasons (dead-lettered later) and the rest go on.
 * `number` disagreeing with the length of `people` is reported, not fatal:
 * the list is what we store, the mismatch is recorded with the run.
 */
import { z } from 'zod';
import { IngestErrorType, permanentFailure } from '../shared/errors.ts';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Printable text without control characters; bounded so a runaway value cannot bloat the table. */
const text = (max: number) =>
  z
    .string()
    .refine((v) => v.trim().length > 0, 'must not be empty or blank')
    .refine((v) => v.length <= max, `must be at most ${max} characters`)
    // eslint-disable-next-line no-control-regex
    .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'must not contain control characters')
    // A lone surrogate (escaped in the JSON) is not text: Postgres cannot store it and UTF-8 cannot encode it.
    .refine((v) => !LONE_SURROGATE.test(v), 'must be well-formed Unicode (no lone surrogate)')
    // U+FFFD marks bytes that were not valid UTF-8 in the body (see decodeBody).
    .refine((v) => !v.includes('\uFFFD'), 'must not contain U+FFFD (bytes that were not valid UTF-8)');

export const personSchema = z.object({
  name: text(200),
  craft: text(100),
});

export type RawPerson = z.infer<typeof personSchema>;

/** A received value for a message: its JSON, cut short (a huge value must not flood reasons or workflow history). */
export function preview(value: unknown, max = 80): string {
  const json = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null ? JSON.stringify(value) : typeof value;
  return json.length > max ? `${json.slice(0, max)}… (${json.length} characters)` : json;
}

export const envelopeSchema = z.object({
  message: z.literal('success', { error: (i) => `expected "success", got ${preview(i.input)}` }),
  // Stored in an integer column (ingest_runs.declared_number).
  number: z.number().int().nonnegative().max(2_147_483_647),
  people: z.array(z.unknown()),
});

export interface RecordReject {
  /** Position in people[] (0-based). */
  index: number;
  reason: string;
  /** The element exactly as received. */
  record: unknown;
}

export interface CheckedPayload {
  declaredNumber: number;
  /** Length of people[] as received. */
  listed: number;
  numberMismatch: boolean;
  valid: { index: number; person: RawPerson }[];
  rejects: RecordReject[];
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/**
 * The body as text. Bytes that are not valid UTF-8 become U+FFFD, which the
 * record checks refuse: the records they fall in are rejected, not the whole
 * payload (a payload whose envelope they break fails as not JSON). A UTF-8
 * byte order mark is dropped.
 */
export function decodeBody(body: Buffer): { text: string; invalidUtf8: boolean } {
  const start = body.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])) ? 3 : 0;
  const bytes = body.subarray(start);
  try {
    return { text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes), invalidUtf8: false };
  } catch {
    return { text: bytes.toString('utf8'), invalidUtf8: true };
  }
}

/** Parse the body as JSON; a body that is not JSON is a permanent fault (the content type it was served with is named). */
export function parseJson(body: string, contentType?: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch (err) {
    const servedAs = contentType === undefined ? '' : ` (served as ${preview(contentType, 100)})`;
    throw permanentFailure(IngestErrorType.MalformedPayload, `source body is not valid JSON${servedAs}: ${preview((err as Error).message, 200)}`, {
      bodyPrefix: body.slice(0, 200),
      bytes: Buffer.byteLength(body),
    });
  }
}

/** One element of people[]: the person, or why it is rejected. */
export function checkPerson(record: unknown): { person: RawPerson } | { reason: string } {
  const parsed = personSchema.safeParse(record);
  return parsed.success ? { person: parsed.data } : { reason: `invalid record: ${describeIssues(parsed.error)}` };
}

/** Check an already-parsed payload. Throws a non-retryable InvalidPayload failure when the envelope is wrong. */
export function checkPayload(payload: unknown, opts: { maxPeople: number }): CheckedPayload {
  const envelope = envelopeSchema.safeParse(payload);
  if (!envelope.success) {
    throw permanentFailure(IngestErrorType.InvalidPayload, `source payload has the wrong shape: ${describeIssues(envelope.error)}`);
  }
  const { number: declaredNumber, people } = envelope.data;
  if (people.length > opts.maxPeople) {
    throw permanentFailure(
      IngestErrorType.InvalidPayload,
      `source payload lists ${people.length} people, more than ASTROS_MAX_PEOPLE=${opts.maxPeople}`,
    );
  }
  const valid: CheckedPayload['valid'] = [];
  const rejects: RecordReject[] = [];
  people.forEach((record, index) => {
    const checked = checkPerson(record);
    if ('person' in checked) valid.push({ index, person: checked.person });
    else rejects.push({ index, record, reason: checked.reason });
  });
  return { declaredNumber, listed: people.length, numberMismatch: declaredNumber !== people.length, valid, rejects };
}
